"""What each page of the monthly pack needs from the warehouse, declared once.

Every page of the pack (``notebooks/<page>.ipynb``) names the canonical tables it reads
(:mod:`outcomes.warehouse.datamodel`) and the catalog metrics it shows
(:mod:`outcomes.metrics.catalog`). A **required** table is one without which the page has
nothing to say; an **optional** table feeds one part of the page, which is left out, with
the reason in words, when the table is absent or has no rows in the reported month. A page
none of whose tables has rows in the month has nothing to say either.

The run's pre-flight (:mod:`outcomes.run.preflight`) reads this registry before any
kernel starts; :func:`render_table` writes it into the documentation.

Example::

    >>> [n.table for n in page_needs("03_roi").required]
    ['tickets']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb
from IPython.display import Markdown

from outcomes.errors import ParamsError
from outcomes.warehouse.datamodel import MONTH_COLUMNS
from outcomes.experiment.spec import InitiativeSpec
from outcomes.metrics import catalog
from outcomes.metrics.compute import FAMILIES
from outcomes.metrics.compute import plan as families_of
from outcomes.periods import Month
from outcomes.report.text import bullets
from outcomes.warehouse.datamodel import TABLES


@dataclass(frozen=True)
class TableNeed:
    """One canonical table a page reads, and what the page shows from it.

    Parameters
    ----------
    table : str
        Canonical table name (:data:`outcomes.warehouse.datamodel.TABLES`).
    shows : str
        What the page shows from it, as a plural noun phrase starting with a capital
        ("Revenue, ARPU and customer lifetime value"); used in the sentence saying it is
        not shown.
    """

    table: str
    shows: str


@dataclass(frozen=True)
class PageNeeds:
    """What one page of the pack needs.

    Parameters
    ----------
    page : str
        The notebook's name in the run configuration (``03_roi``).
    title : str
        The page's title, as readers know it.
    required : tuple of TableNeed
        Tables without which the page has nothing to say.
    optional : tuple of TableNeed
        Tables feeding one part of the page; that part is left out without them.
    metrics : tuple of str
        Catalog metric ids the page shows.
    initiatives : bool
        Whether the page needs at least one active initiative (``params/initiatives``).
    records : tuple of str
        The ``results.json`` sections the page records (none is recorded when it is left out).
    """

    page: str
    title: str
    required: tuple[TableNeed, ...] = ()
    optional: tuple[TableNeed, ...] = ()
    metrics: tuple[str, ...] = ()
    initiatives: bool = False
    records: tuple[str, ...] = ()

    @property
    def tables(self) -> tuple[str, ...]:
        """Every table the page reads, required first."""
        return tuple(n.table for n in (*self.required, *self.optional))


#: The column that places a row in a month, per table; a table absent here (service map,
#: register) is undated: any row counts. For :data:`CUMULATIVE` tables every row dated up
#: to the end of the month counts.
DATED_BY: dict[str, str] = {**MONTH_COLUMNS, "assignments": "assigned_at"}
#: Tables whose rows hold for every month after their date: a customer stays one until churn,
#: a unit stays assigned to its arm for the rest of the test.
CUMULATIVE: frozenset[str] = frozenset({"customers", "assignments"})

_N = TableNeed
_SCORECARD_METRICS = (
    "ticket_volume", "tickets_per_user", "first_response_median_hours", "first_response_p90_hours",
    "first_response_p95_hours", "first_response_mean_hours", "mttr_hours", "median_time_to_resolve_hours",
    "resolution_p90_hours", "resolution_p95_hours", "fcr_rate", "sla_attainment",
    "reopen_rate", "reassignments_per_ticket", "backlog_size", "backlog_age_days", "self_service_rate",
    "cost_per_ticket", "outage_minutes", "availability", "deployment_frequency", "lead_time_hours",
    "change_failure_rate", "deployment_rework_rate", "time_to_restore_hours", "employee_it_satisfaction", "demand_capacity_ratio",
    "backlog_growth", "active_customers", "csat", "nps", "churn_rate", "retention_rate", "conversion_rate",
    "revenue", "arpu", "aov", "clv", "cac", "ticket_happiness", "lost_time_hours", "customer_ticket_happiness",
    "customer_lost_time_hours", "employee_it_happiness", "employee_lost_time_hours",
    "revenue", "arpu", "aov", "clv", "cac", "cost_per_order", "cost_per_active_customer", "cost_per_retained_customer",
)

PAGES: dict[str, PageNeeds] = {
    p.page: p
    for p in (
        PageNeeds(
            "00_executive_summary",
            "Executive summary",
            optional=(
                _N("tickets", "What IT delivered"),
                _N("customers", "What changed for customers"),
                _N("customer_surveys", "CSAT in the headlines"),
                _N("churn", "Churn in the headlines"),
                _N("service_map", "Customer metrics by service"),
            ),
            metrics=("csat", "churn_rate", "first_response_mean_hours"),
            records=("headlines", "unavailable"),
        ),
        PageNeeds(
            "01_joint_scorecard",
            "Joint scorecard",
            optional=(
                _N("tickets", "Ticket metrics, the demand and capacity chart and the link from IT to customers"),
                _N("customers", "Customer counts, segments and tickets per customer"),
                _N("customer_surveys", "CSAT and NPS"),
                _N("churn", "Churn and retention"),
                _N("orders", "Revenue, ARPU, order value and customer lifetime value"),
                _N("campaigns", "Conversion rate and customer acquisition cost"),
                _N("incidents", "Outage minutes and availability"),
                _N("service_map", "Availability and the split by service"),
                _N("deployments", "Deployment frequency, lead time, recovery time, change failure and rework rates"),
                _N("it_costs", "Cost per ticket, IT cost per order and per customer, and the cost allocation"),
                _N("employee_survey", "Employee IT satisfaction"),
                _N("ticket_surveys", "Ticket happiness, lost time per ticket and the watermelon check"),
            ),
            metrics=_SCORECARD_METRICS,
            records=("scorecard", "headlines"),
        ),
        PageNeeds(
            "02_initiative_review",
            "Initiative review",
            optional=(
                _N("tickets", "Effects on ticket metrics"),
                _N("customers", "Effects on customer metrics"),
                _N("assignments", "Effects of randomized tests whose units are assigned in the warehouse"),
            ),
            initiatives=True,
            records=("initiatives",),
        ),
        PageNeeds(
            "03_roi",
            "What the IT initiatives are worth",
            required=(_N("tickets", "Cost per ticket and the link from first response to customers"),),
            optional=(
                _N("it_costs", "Cost per ticket from the service desk's costs"),
                _N("customers", "Customer lifetime value per segment"),
                _N("orders", "Revenue and customer lifetime value"),
                _N("churn", "Churn and customer lifetime value"),
                _N("customer_surveys", "The link from first response to CSAT"),
                _N("service_map", "Customer metrics by service"),
            ),
            metrics=("cost_per_ticket", "first_response_mean_hours", "csat", "churn_rate", "arpu", "clv"),
            initiatives=True,
            records=("roi", "portfolio"),
        ),
    )
}


def metric_tables(metric_ids: Sequence[str]) -> tuple[str, ...]:
    """The tables whose rows the metrics count: the main table of each metric family they are computed from.

    A family also joins other tables (customers, the service map) whose rows it does not
    need; those are left out.
    """
    main = {f.name: f.tables[0] for f in FAMILIES} | {"services": "service_map"}
    return tuple(dict.fromkeys(main[name] for name in families_of(metric_ids)))


def initiative_needs(spec: InitiativeSpec) -> PageNeeds:
    """The review page's needs for one initiative: the tables its catalog metrics are computed from.

    The tables of its primary metric are required; those of its other metrics (guardrails,
    secondary metrics) are optional: the review leaves those metrics out. An initiative
    whose data come from its own file (``data.table``) needs no warehouse table; metrics
    outside the catalog are not checked.
    """
    review = PAGES["02_initiative_review"]
    if spec.data.table is not None:
        return review
    name = spec.name or spec.id
    known = set(catalog.ids())  # a metric of the initiative's own (computed by its design) is not checked here
    primary = metric_tables([m.metric for m in spec.metrics if m.metric in known and m.role == "primary"])
    required = tuple(TableNeed(t, f"The review of {name} (its primary metric is computed from {t})") for t in primary)
    optional: dict[str, list[str]] = {}
    for m in spec.metrics:
        if m.metric in known and m.role != "primary":
            for t in metric_tables([m.metric]):
                if t not in primary:
                    optional.setdefault(t, []).append(m.label or m.metric)
    others = tuple(TableNeed(t, f"The review's {' and '.join(labels)}") for t, labels in optional.items())
    return replace(review, required=required, optional=others)


def page_needs(page: str) -> PageNeeds | None:
    """The needs of ``page`` (its name in the run configuration); None for a page not in :data:`PAGES`."""
    return PAGES.get(page)


@dataclass(frozen=True)
class TableData:
    """How much of one table the warehouse holds.

    Parameters
    ----------
    table : str
        Canonical table name.
    present : bool
        Whether the warehouse has the table.
    rows_in_period : int
        Rows that fall in the reported month (every row for an undated table; customers
        signed up by the month's end for :data:`CUMULATIVE` tables).
    first_month, last_month : str or None
        The months of its earliest and latest dated row, ``YYYY-MM``.
    """

    table: str
    present: bool
    rows_in_period: int = 0
    first_month: str | None = None
    last_month: str | None = None

    @property
    def usable(self) -> bool:
        """Whether the table has rows for the month."""
        return self.present and self.rows_in_period > 0

    def why_not(self, period: str) -> str:
        """Why the table cannot be used for ``period``, in words (empty when it can)."""
        if not self.present:
            return f"the warehouse has no {self.table} table"
        if self.usable:
            return ""
        if self.first_month is None:
            return f"the warehouse's {self.table} table is empty"
        return f"the warehouse's {self.table} table has no rows in {period} (it has {self.first_month} to {self.last_month})"


def _month_text(value: object) -> str | None:
    if value is None:
        return None
    day = value.date() if isinstance(value, dt.datetime) else value
    return str(Month.of(day))


def table_data(warehouse: str | Path, period: str, tables: tuple[str, ...] | list[str]) -> dict[str, TableData]:
    """Rows of each table in ``period``, and the months each table covers, read from the DuckDB warehouse.

    Parameters
    ----------
    warehouse : str or Path
        The DuckDB warehouse file.
    period : str
        ``YYYY-MM``.
    tables : sequence of str
        Canonical table names.

    Returns
    -------
    dict
        Table name -> :class:`TableData`.

    Raises
    ------
    ParamsError
        When the file does not exist or is not a DuckDB database, naming it and what to do.
    """
    path = Path(warehouse)
    if not path.is_file():
        raise ParamsError(
            f"warehouse {path} does not exist; build it with `outcomes ingest` (params/sources.yaml) "
            "or set the key 'warehouse' of the run configuration to your warehouse"
        )
    month = Month.parse(period)
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise ParamsError(
            f"warehouse {path} cannot be opened as a DuckDB database ({exc}); rebuild it with `outcomes ingest`"
        ) from None
    try:
        present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        found: dict[str, TableData] = {}
        for name in tables:
            if name not in TABLES:
                raise ParamsError(f"'{name}' is not a canonical table; tables are: {', '.join(TABLES)}")
            if name not in present:
                found[name] = TableData(name, False)
                continue
            column = DATED_BY.get(name)
            if column is None:
                count = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                found[name] = TableData(name, True, int(count), None, None)
                continue
            start = dt.date(1000, 1, 1) if name in CUMULATIVE else month.start
            count, first, last = con.execute(
                f'SELECT count(*) FILTER (WHERE "{column}" >= ? AND "{column}" < ?), min("{column}"), max("{column}") '
                f'FROM "{name}"',
                [start, month.end_exclusive],
            ).fetchone()
            found[name] = TableData(name, True, int(count), _month_text(first), _month_text(last))
        return found
    finally:
        con.close()


def unavailable(needs: PageNeeds, data: dict[str, TableData], period: str, *, required_only: bool = False) -> list[str]:
    """Sentences naming what ``needs.page`` cannot show for ``period``, and what to do.

    One sentence per table that is absent or has no rows in the month, e.g. "Revenue,
    ARPU, order value and customer lifetime value: not shown, because the warehouse has no
    orders table. Add an orders export to params/sources.yaml."

    Parameters
    ----------
    needs : PageNeeds
        The page.
    data : dict
        From :func:`table_data`, holding every table of the page.
    period : str
        The reported month.
    required_only : bool
        Only the required tables (why the page cannot run at all).

    Returns
    -------
    list of str
    """
    sentences = []
    for need in needs.required if required_only else (*needs.required, *needs.optional):
        found = data[need.table]
        if not found.usable:
            article = "an" if need.table[0] in "aeiou" else "a"
            fix = (
                f"Add {article} {need.table} export to params/sources.yaml"
                if not found.present or found.first_month is None
                else "Choose a month the data cover or add the missing export"
            )
            sentences.append(f"{need.shows}: not shown, because {found.why_not(period)}. {fix}.")
    return sentences


#: The results section where the run's pre-flight states what the pack does not show.
SECTION = "unavailable"


def page_of(stem: str) -> str:
    """The page a task's output stem belongs to (``02_initiative_review--chatbot`` -> ``02_initiative_review``)."""
    return stem.split("--", 1)[0]


def not_shown(found: Mapping[str, Sequence[Any]], page: str) -> list[str]:
    """What ``page`` does not show this month, as the run's pre-flight found it.

    Parameters
    ----------
    found : mapping
        The run's results so far (``report.results()``); its ``unavailable`` rows are
        written by the pre-flight before any page runs.
    page : str
        The page's name in the run configuration (``03_roi``).

    Returns
    -------
    list of str
        One sentence per part left out, each once; a single sentence saying the page
        shows everything when nothing is left out (or when the page runs outside a run).
    """
    return _left_out_parts(found, page) or ["Every part of this page has data for the month."]


def _left_out_parts(found: Mapping[str, Sequence[Any]], page: str) -> list[str]:
    sentences = [str(r["sentence"]) for r in found.get(SECTION, []) if page_of(str(r["page"])) == page]
    return list(dict.fromkeys(sentences))


#: The lead of a page's "Not shown this month" section.
PAGE_LEAD = "What this page leaves out because the data for the month are not in the warehouse, and what to add."
#: The lead of the executive summary's, for the whole pack.
PACK_LEAD = (
    "Pages and parts of pages the pack leaves out because the data for the month are not in the warehouse, "
    "and what to add."
)


def not_shown_markdown(parts: Sequence[str], lead: str = PAGE_LEAD) -> Markdown:
    """A "Not shown this month" section: its heading, ``lead`` and one bullet per part; empty without parts.

    Parameters
    ----------
    parts : sequence of str
        What is left out, one sentence each (escaped).
    lead : str
        The sentence under the heading (:data:`PAGE_LEAD`, :data:`PACK_LEAD`).

    Returns
    -------
    IPython.display.Markdown
        Empty when nothing is left out, so the page has no section to skip.
    """
    return Markdown(f"## Not shown this month\n\n{lead}\n\n{bullets(parts).data}" if parts else "")


def not_shown_section(found: Mapping[str, Sequence[Any]], page: str) -> Markdown:
    """A page's "Not shown this month" section (:func:`not_shown_markdown`), only when the page leaves something out.

    Parameters
    ----------
    found : mapping
        The run's results so far (``report.results()``).
    page : str
        The page's name in the run configuration (``02_initiative_review``).
    """
    return not_shown_markdown(_left_out_parts(found, page))


def left_out_sections(found: Mapping[str, Sequence[Any]]) -> set[str]:
    """The ``results.json`` sections no page records this month: those of the pages the pre-flight left out."""
    left = {page_of(str(r["page"])) for r in found.get(SECTION, []) if r["left_out"]}
    return {section for page in left if (needs := page_needs(page)) is not None for section in needs.records}


def pack_not_shown(found: Mapping[str, Sequence[Any]]) -> list[str]:
    """What the whole pack does not show this month: pages left out first, then parts of pages, each once.

    Parameters
    ----------
    found : mapping
        The run's results so far (``report.results()``).

    Returns
    -------
    list of str
        Sentences naming the page; a single sentence saying the pack shows everything
        when nothing is left out.
    """
    return pack_left_out(found) or ["Every page of the pack has data for the month."]


def pack_left_out(found: Mapping[str, Sequence[Any]]) -> list[str]:
    """What the whole pack does not show this month (:func:`pack_not_shown`); empty when it shows everything."""
    rows = list(found.get(SECTION, []))
    lines = []
    for left_out in (True, False):
        for r in rows:
            if bool(r["left_out"]) is not left_out:
                continue
            needs = page_needs(page_of(str(r["page"])))
            title = needs.title if needs is not None else str(r["page"])
            lines.append(f"{title} is not published: {r['sentence']}" if left_out else f"{title}: {r['sentence']}")
    return list(dict.fromkeys(lines))


def _lower_first(text: str) -> str:
    """``text`` with its first letter in lower case, unless it starts an acronym (CSAT)."""
    return text if text[1:2].isupper() else text[:1].lower() + text[1:]


def render_table() -> str:
    """The registry as a Markdown table for the documentation (README, ``docs/architecture.md``)."""
    lines = [
        "| page | required tables | optional tables (the part left out without them) | needs an active initiative |",
        "| --- | --- | --- | --- |",
    ]
    for p in PAGES.values():
        required = ", ".join(f"`{n.table}`" for n in p.required) or "none"
        optional = "; ".join(f"`{n.table}` ({_lower_first(n.shows)})" for n in p.optional) or "none"
        lines.append(f"| `{p.page}` | {required} | {optional} | {'yes' if p.initiatives else 'no'} |")
    return "\n".join(lines) + "\n"

"""The investment step: what the IT initiatives are worth, from the warehouse and the reviews.

This module wires the ROI library (:mod:`outcomes.value`) to the rest of the kit:

* :func:`warehouse_inputs` computes the value model's inputs from the warehouse: cost per
  ticket (service-desk cost / tickets), CLV per segment (ARPU x gross margin / churn),
  customers per segment, deployments per month and the costs in the portfolio office's
  register;
* :func:`drivers_estimates` fits the drivers model (how first response moves CSAT and
  churn) whose slopes carry an IT change to a customer outcome, labelled as an association;
* :func:`review_initiatives` reviews every active initiative (``params/initiatives``);
* :func:`evaluate` builds one investment case per initiative of the value model, from the
  initiative's measured effect (labelled ``experiment``) or its stated assumption, and
  the portfolio with the decisions and the IT demand each initiative adds or removes; in
  a report run the drivers panel and the initiative results are those the scorecard and
  the review notebooks computed (:mod:`outcomes.cache` keeps them), not computed again;

The executive summary built from these results is :mod:`outcomes.report.summary`.

Every number shown comes from a result; every value statement carries its range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown

from outcomes import cache, config
from outcomes.metrics import catalog, history
from outcomes import format as fmt
from outcomes.report import narrative
from outcomes.report.answer import answer
from outcomes.warehouse import store
from outcomes.scorecard.drivers import OK, DriversResult, drivers_panel, fit_drivers
from outcomes.experiment.results import InitiativeResult, MetricEffect
from outcomes.metrics.compute import Scope
from outcomes.metrics.panel import shared_frame
from outcomes.periods import Month, Window
from outcomes.params import read_yaml
from outcomes.report.review import RemainingTest, load_spec, remaining_test, review, shared_result
from outcomes.report.text import escape_md
from outcomes.report import shrinkage_page, value_charts
from outcomes.value import montecarlo, plausibility, shrinkage
from outcomes.value.evidence import GRADE_WORDS, grade_sentence
from outcomes.value.montecarlo import InvestmentCase
from outcomes.value.shrinkage import ShrunkEffect
from outcomes.value.portfolio import Portfolio, build_portfolio
from outcomes.value.recommendation import Recommendation, recommend
from outcomes.value.model import (
    Effect,
    Quantity,
    ValueInputs,
    ValueModel,
    chain_quantities,
    load_value_model,
    monthly_rate,
    simple_clv,
    unit_value,
    with_inputs,
)
from outcomes.report.tables import table
from outcomes.report.whatif_charts import what_if_chart
from outcomes.value.whatif import WhatIf, what_if_grid

#: Months of history behind the warehouse inputs (a year smooths seasons and small segments).
INPUT_MONTHS = 12
#: Months of the region x month panel behind the drivers model.
DRIVERS_MONTHS = 24
#: Customer outcome metrics (what changed for customers); the rest is IT delivery.
CUSTOMER_METRICS = frozenset(
    {
        "csat", "nps", "churn_rate", "retention_rate", "conversion_rate",
        "active_customers", "revenue", "arpu", "aov", "clv",
    }
)
#: Deployment metrics: a chain on them counts deployments per month.
DEPLOYMENT_METRICS = frozenset(
    {"lead_time_hours", "change_failure_rate", "deployment_rework_rate", "time_to_restore_hours", "deployment_frequency"}
)
#: What each design is called for readers.
DESIGN_WORDS = {
    "randomized": "randomized experiment",
    "did": "difference-in-differences",
    "its": "interrupted time series",
    "synthetic_control": "synthetic control",
    "staggered": "difference-in-differences of a staggered rollout",
}
_SOURCE_WORDS = {
    "experiment": "measured",
    "drivers": "drivers model (an association across regions and months, not proof of cause)",
    "assumption": "stated assumption (params/value.yaml)",
}


# --------------------------------------------------------------------------- warehouse inputs


@dataclass(frozen=True)
class WarehouseInputs:
    """The value model's inputs computed from the warehouse over a window of months.

    Attributes
    ----------
    period : str
        The last month of the window, ``YYYY-MM``.
    months : int
        Months in the window.
    desk_cost : float
        Service-desk cost over the window.
    tickets : float
        Tickets opened over the window (every requester: the desk serves them all).
    cost_per_ticket : float
        ``desk_cost / tickets``.
    segments : pandas.DataFrame
        One row per customer segment: ``customers`` (active in ``period``),
        ``customer_months``, ``revenue``, ``arpu_monthly``, ``gross_margin``,
        ``churn_rate`` (monthly, pooled over the window) and ``clv`` (ARPU x margin / churn).
    deployments_per_month : float
        Production deployments per month over the window.
    initial_cost, recurring_monthly_cost : dict of str to float
        One-off and running costs per month by initiative id, from the portfolio office's
        register (the warehouse table ``initiatives``).
    measured_share : dict of str to float
        By initiative id, the share of the customers active in ``period`` who are in the
        units where its effect was measured (e.g. the two regions of a rollout).
    """

    period: str
    months: int
    desk_cost: float
    tickets: float
    cost_per_ticket: float
    segments: pd.DataFrame
    deployments_per_month: float
    initial_cost: dict[str, float] = field(default_factory=dict)
    recurring_monthly_cost: dict[str, float] = field(default_factory=dict)
    measured_share: dict[str, float] = field(default_factory=dict)

    def value_inputs(self, model: ValueModel) -> ValueInputs:
        """The figures the value model takes in place of its stated fallbacks.

        Parameters
        ----------
        model : ValueModel
            The value model; only its segments and initiatives receive figures.

        Returns
        -------
        ValueInputs
            Cost per ticket, CLV and customers per segment, deployments per month for
            chains on a deployment metric with a stated count, and the register's costs.
        """
        seg = self.segments[self.segments["segment"].isin(list(model.segments))].set_index("segment")
        clv = {k: float(v) for k, v in seg["clv"].items() if np.isfinite(v) and v > 0}
        deployments = {
            key: self.deployments_per_month
            for key, ini in model.initiatives.items()
            if ini.population.count is not None and ini.metric in DEPLOYMENT_METRICS
        }
        known = set(model.initiatives)
        return ValueInputs(
            cost_per_ticket=self.cost_per_ticket if np.isfinite(self.cost_per_ticket) else None,
            clv_by_segment=clv,
            customers_by_segment={k: float(v) for k, v in seg["customers"].items()},
            churn_by_segment={k: float(v) for k, v in seg["churn_rate"].items() if np.isfinite(v) and v > 0},
            population_by_initiative=deployments,
            initial_cost_by_initiative={k: v for k, v in self.initial_cost.items() if k in known},
            recurring_monthly_cost_by_initiative={k: v for k, v in self.recurring_monthly_cost.items() if k in known},
            measured_share_by_initiative={k: v for k, v in self.measured_share.items() if k in known},
            service_desk_yearly_cost=self.desk_cost * 12.0 / self.months if self.months else None,
        )

    def to_frame(self, currency: str = "EUR") -> pd.DataFrame:
        """The inputs as a table for readers: figure, value (formatted) and how it was computed."""
        window = f"{self.months} months to {self.period}"
        money = lambda x: fmt.money(x, currency)  # noqa: E731
        rows = [
            (
                "Cost per ticket",
                money(self.cost_per_ticket),
                f"service-desk cost {money(self.desk_cost)} / {fmt.count(self.tickets)} tickets ({window})",
            ),
            (
                "Deployments per month",
                fmt.number(self.deployments_per_month),
                f"production deployments ({window})",
            ),
        ]
        for _, r in self.segments.iterrows():
            how = (
                f"ARPU {money(r['arpu_monthly'])} x margin {fmt.percent(r['gross_margin'])} "
                f"/ (churn {fmt.percent(r['churn_rate'], decimals=2)} + discount "
                f"{fmt.percent(r['monthly_discount'], decimals=2)} a month) ({window})"
            )
            rows.append((f"CLV, {r['segment']}", money(r["clv"]), how))
            rows.append((f"Customers, {r['segment']}", fmt.count(r["customers"]), f"active in {self.period}"))
        return pd.DataFrame(rows, columns=["figure", "value", "how it was computed"])


def _register_costs(con: ibis.BaseBackend) -> tuple[dict[str, float], dict[str, float]]:
    if "initiatives" not in con.list_tables():
        return {}, {}
    t = con.table("initiatives")
    frame = t.select("initiative_id", "one_off_cost", "recurring_cost_monthly").execute()
    rows = list(frame.itertuples())
    initial = {r.initiative_id: float(r.one_off_cost) for r in rows if pd.notna(r.one_off_cost)}
    monthly = {r.initiative_id: float(r.recurring_cost_monthly) for r in rows if pd.notna(r.recurring_cost_monthly)}
    return initial, monthly


#: Columns of :attr:`WarehouseInputs.segments` (present when the warehouse has no customers).
SEGMENT_COLUMNS = (
    "segment", "customers", "customer_months", "revenue", "arpu_monthly", "gross_margin", "churn_rate", "monthly_discount", "clv",
)


def measured_units(specs: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """The regions where each initiative's effect was measured, by id (rollouts to some regions only).

    Parameters
    ----------
    specs : mapping of str to InitiativeSpec
        Initiative specs by id.

    Returns
    -------
    dict of str to tuple of str
        Initiatives evaluated on regions with named treated units.
    """
    return {
        k: tuple(spec.treated_units)
        for k, spec in specs.items()
        if spec.treated_units and getattr(spec.data, "unit", None) == "region"
    }


def customers_by_region(con: ibis.BaseBackend, period: str) -> dict[str, float]:
    """Customers active in ``period`` (signed up before its end, not churned before its start), by region."""
    month = Month.parse(period)
    start, end = month.timestamp, (month + 1).timestamp
    customers = con.table("customers")
    churn = con.table("churn").select(_churned_id="customer_id", churned_at="churned_at")
    c = customers.left_join(churn, customers.customer_id == churn._churned_id)
    active = c.filter((c.signup_date < end) & (c.churned_at.isnull() | (c.churned_at >= start)))
    frame = active.group_by("region").aggregate(n=active.count()).execute()
    return {str(r.region): float(r.n) for r in frame.itertuples()}


def measured_shares(
    con: ibis.BaseBackend, period: str, units: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    """Share of the active customers in the regions where each initiative was measured, by id."""
    if not units:
        return {}
    regions = customers_by_region(con, period)
    total = sum(regions.values())
    return {k: sum(regions.get(r, 0.0) for r in rs) / total for k, rs in units.items() if total > 0}


def warehouse_inputs(
    con: ibis.BaseBackend,
    period: str,
    *,
    months: int = INPUT_MONTHS,
    discount_rate: float = 0.10,
    measured_units: Mapping[str, Sequence[str]] | None = None,
) -> WarehouseInputs:
    """Compute the value model's inputs from the warehouse.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse (:func:`outcomes.warehouse.store.connect`).
    period : str
        The last month of the window, ``YYYY-MM``.
    months : int
        Months in the window.
    discount_rate : float
        Yearly discount rate of the value model; CLV discounts future months at the
        equivalent monthly rate.
    measured_units : mapping of str to sequence of str, optional
        By initiative id, the regions where its effect was measured (:func:`measured_units`).

    Returns
    -------
    WarehouseInputs
        Sums over the window, divided after aggregation (exact): cost per ticket =
        service-desk cost / tickets; ARPU = revenue / customer-months; gross margin =
        margin / revenue of orders with a margin; churn = customers lost / customers at the
        start of each month; CLV = ARPU x margin / (churn + monthly discount rate);
        customers = active in ``period``.
    """
    window = Window.last(months, ending=period)
    scope = Scope(window, ("all", "customer_segment"))
    # months whose data did not change are read from the run's history (DuckDB), as the panels are
    wide = history.run_wide(con, ["cost_per_ticket", "clv", "deployment_frequency"], scope)
    company = wide[wide["segment_dim"] == "all"]
    desk_cost = float(company["desk_cost"].fillna(0.0).sum())
    tickets = float(company["ticket_volume"].fillna(0.0).sum())
    segs = wide[wide["segment_dim"] == "customer_segment"].copy()
    segs["lost"] = segs["customers_lost"].fillna(0.0)
    last = window.last_month.timestamp
    d = monthly_rate(discount_rate)
    rows = []
    for name, g in segs.groupby("segment", sort=True):
        customer_months = float(g["active_customers"].fillna(0.0).sum())
        if customer_months == 0:
            continue
        revenue = float(g["revenue"].fillna(0.0).sum())
        at_start = float(g["churn_rate__n"].fillna(0.0).sum())
        arpu = revenue / customer_months if customer_months else np.nan
        with_margin = float(g["revenue_with_margin"].fillna(0.0).sum())
        margin = float(g["margin"].fillna(0.0).sum()) / with_margin if with_margin else np.nan
        churn = float(g["lost"].sum()) / at_start if at_start else np.nan
        clv = simple_clv(arpu, margin, churn, d) if churn > 0 and np.isfinite(arpu * margin) else np.nan
        now = g.loc[pd.to_datetime(g["period"]) == last, "active_customers"]
        rows.append(
            {
                "segment": str(name),
                "customers": float(now.iloc[0]) if len(now) else 0.0,
                "customer_months": customer_months,
                "revenue": revenue,
                "arpu_monthly": arpu,
                "gross_margin": margin,
                "churn_rate": churn,
                "monthly_discount": d,
                "clv": clv,
            }
        )
    initial, monthly = _register_costs(con)
    return WarehouseInputs(
        period=str(window.last_month),
        months=len(window),
        desk_cost=desk_cost,
        tickets=tickets,
        cost_per_ticket=desk_cost / tickets if tickets else np.nan,
        segments=pd.DataFrame(rows, columns=SEGMENT_COLUMNS),
        deployments_per_month=float(company["deployments"].fillna(0).sum()) / len(window),
        initial_cost=initial,
        recurring_monthly_cost=monthly,
        measured_share=measured_shares(con, str(window.last_month), measured_units or {}),
    )


# --------------------------------------------------------------------------- drivers and reviews


def drivers_estimates(
    con: ibis.BaseBackend | None,
    period: str,
    *,
    months: int = DRIVERS_MONTHS,
    min_customers: int = 10,
    engine: str = "duckdb",
    warehouse_path: str | Path | None = None,
    engine_settings: str | Path | None = None,
) -> DriversResult:
    """Fit the drivers model (CSAT and churn on mean first response, region x month).

    The panel is the one ``01_joint_scorecard`` fits the same model on: in a report run
    it is computed once and shared (:func:`outcomes.metrics.panel.shared_frame`).

    Parameters
    ----------
    con : ibis.BaseBackend or None
        The warehouse on ``engine``; None opens one when the panel must be computed.
    period : str
        The last month of the panel.
    months : int
        Months of the panel.
    min_customers : int
        Segments with fewer customers in a month are suppressed (as in the panel).
    engine : {"duckdb", "spark"}
        The engine of ``con``.
    warehouse_path : str or Path, optional
        The DuckDB file (default: the project's).
    engine_settings : str or Path, optional
        The engine settings file (default: the project's).

    Returns
    -------
    DriversResult
    """
    window = Window.last(months, ending=period)
    panel = shared_frame(
        drivers_panel, con, engine=engine, warehouse_path=warehouse_path, engine_settings=engine_settings,
        start=window.first_month, end=window.last_month, min_customers=min_customers,
    )
    return fit_drivers(panel)


def link_slopes(model: ValueModel, key: str, drivers: DriversResult | None) -> dict[str, Quantity]:
    """The drivers model's slopes for an initiative's links, as normal quantities.

    A link gets the drivers' slope when the drivers model was fitted on the link's
    starting metric and estimated its target; the quantity spans the model's interval
    (t with clusters - 1 degrees of freedom), so its spread is honest with few clusters.

    Parameters
    ----------
    model : ValueModel
        The value model.
    key : str
        Initiative id.
    drivers : DriversResult or None
        The fitted drivers model.

    Returns
    -------
    dict of str to Quantity
        By the link's ``to`` metric; links the drivers model does not cover keep their stated slope.
    """
    if drivers is None:
        return {}
    ini = model.initiative(key)
    out: dict[str, Quantity] = {}
    previous = ini.metric
    for link in ini.links:
        est = drivers.estimate(link.to)
        if drivers.x == previous and est is not None and est.status == OK:
            out[link.to] = Quantity(
                value=est.fit.estimate, low=est.fit.ci_low, high=est.fit.ci_high, level=1 - drivers.alpha,
                distribution="normal", origin="drivers",
            )
        previous = link.to
    return out


def _initiative_docs(folder: str | Path | None = None) -> dict[str, tuple[Path, dict[str, Any]]]:
    """The initiative files' documents by id (the file name when ``id`` is absent).

    ``folder`` defaults to the project's ``params/initiatives``.
    """
    folder = config.resolve(folder) if folder is not None else config.project().initiatives_dir
    out: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path in sorted([*Path(folder).glob("*.yaml"), *Path(folder).glob("*.yml")]):
        doc = read_yaml(path)
        if isinstance(doc, dict):
            out[str(doc.get("id") or path.stem)] = (path, doc)
    return out


def initiative_files(folder: str | Path | None = None) -> dict[str, tuple[Path, bool]]:
    """Initiative files by id (the file name when ``id`` is absent), with whether each is active."""
    return {k: (path, doc.get("active") is True) for k, (path, doc) in _initiative_docs(folder).items()}


def register_names(folder: str | Path | None = None) -> dict[str, str]:
    """Each initiative's one name, as its file in the register states it (``name``), by id.

    Every page of a run names an initiative this way: the review page (its spec), the
    ROI page and the executive summary (:func:`load_model`).
    """
    return {k: str(doc["name"]) for k, (_, doc) in _initiative_docs(folder).items() if doc.get("name")}


def load_model(value_model: str | Path | None = None, initiatives_dir: str | Path | None = None) -> ValueModel:
    """The value model with each initiative named as the register names it.

    Parameters
    ----------
    value_model : str or Path, optional
        ``params/value.yaml`` (default: the project's); its ``name`` of an initiative is used only when the
        register has no file naming it.
    initiatives_dir : str or Path, optional
        The register: the initiative files (default: the project's ``params/initiatives``).

    Returns
    -------
    ValueModel
    """
    model = load_value_model(value_model)
    names = register_names(initiatives_dir)
    renamed = {k: ini.model_copy(update={"name": names.get(k, ini.name)}) for k, ini in model.initiatives.items()}
    return model.model_copy(update={"initiatives": renamed})


def active_specs(folder: str | Path | None = None) -> dict[str, Path]:
    """Initiative files with ``active: true``, by id."""
    return {ident: path for ident, (path, active) in initiative_files(folder).items() if active}


def review_initiatives(
    period: str | None = None, *, con: ibis.BaseBackend | None = None, folder: str | Path | None = None
) -> dict[str, Any]:
    """Review every active initiative with the statistics engine.

    Parameters
    ----------
    period : str, optional
        Analyse data up to the end of this month.
    con : ibis.BaseBackend, optional
        The warehouse.
    folder : str or Path, optional
        Where the initiative files are (default: the project's ``params/initiatives``).

    Returns
    -------
    dict of str to outcomes.report.review.Review
        By initiative id; ``.result`` is the :class:`InitiativeResult`, ``.entry()`` the
        results.json entry.
    """
    return {ident: review(path, period=period, con=con) for ident, path in active_specs(folder).items()}


def measured_effect(result: InitiativeResult, metric: str) -> MetricEffect | None:
    """The whole-population effect of ``result`` on ``metric`` with an interval, if any.

    With several arms the arm the decision is about comes first.
    """
    hits = [e for e in result.effects if e.metric == metric and e.segment == "all" and e.estimable]
    hits.sort(key=lambda e: e.arm != result.decision.arm)
    return hits[0] if hits else None


def effect_quantity(effect: MetricEffect) -> Effect:
    """A measured effect as the value model's :class:`Effect` (normal over its interval)."""
    return Effect.from_ci(
        effect.estimate_abs, effect.ci_low, effect.ci_high, level=1 - effect.alpha, source="experiment"
    )


# --------------------------------------------------------------------------- the investment cases


@dataclass(frozen=True)
class Investment:
    """Every initiative's investment case, the portfolio and what each number rests on.

    Build it with :func:`evaluate` (or :func:`build_investment` from computed parts).

    Attributes
    ----------
    period : str
        The reported month.
    model : ValueModel
        The value model as stated (``params/value.yaml``).
    inputs : WarehouseInputs or None
        Figures from the warehouse (None: the stated fallbacks were used).
    drivers : DriversResult or None
        The drivers model behind the link slopes.
    results : dict of str to InitiativeResult
        Initiative reviews by id.
    cases : tuple of InvestmentCase
        One per initiative of the value model.
    portfolio : Portfolio
        The cases side by side with decisions and IT demand.
    evidence : pandas.DataFrame
        Per initiative and chain step: the number, its source and what it rests on.
    unvalued : tuple of str
        Reviewed initiatives without a value chain in the value model (no case).
    remaining : dict of str to RemainingTest
        By initiative id, what a randomized test still needs to reach its planned size.
    scenarios : dict of str to InvestmentCase
        By initiative id, the case with the effect applied to the whole population, for
        initiatives measured on part of it (a scenario beside the base case, never the base).
    shrinkage : dict of str to ShrunkEffect
        By initiative id, its measured effect raw and shrunk toward the others on the same
        IT metric (:mod:`outcomes.value.shrinkage`).
    shrunk_cases : dict of str to InvestmentCase
        By initiative id, the case with the shrunk effect, for initiatives that share their
        IT metric with another measured one; the portfolio's total sums these in place of the raw cases.
    """

    period: str
    model: ValueModel
    inputs: WarehouseInputs | None
    drivers: DriversResult | None
    results: dict[str, InitiativeResult]
    cases: tuple[InvestmentCase, ...]
    portfolio: Portfolio
    evidence: pd.DataFrame
    unvalued: tuple[str, ...] = ()
    remaining: dict[str, RemainingTest] = field(default_factory=dict)
    scenarios: dict[str, InvestmentCase] = field(default_factory=dict)
    shrinkage: dict[str, ShrunkEffect] = field(default_factory=dict)
    shrunk_cases: dict[str, InvestmentCase] = field(default_factory=dict)

    def case(self, key: str) -> InvestmentCase:
        """The case of initiative ``key``."""
        for c in self.cases:
            if c.initiative == key:
                return c
        raise KeyError(f"no investment case for '{key}'; cases are: {', '.join(c.initiative for c in self.cases)}")

    def records(self) -> list[dict[str, Any]]:
        """The results.json ``roi`` entries, one per initiative."""
        return [
            {
                **c.to_dict(),
                "name": c.name,
                "recommendation": self.recommendation(c.initiative).text,
                "what_would_change": self.recommendation(c.initiative).change or None,
                "value_per_customer_kept": (
                    float(c.steps.unit_value) if self.model.initiative(c.initiative).money == "churn_avoided" else None
                ),
                **case_evidence(c),
                "scenario_all_units": (
                    scenario_entry(self.scenarios[c.initiative]) if c.initiative in self.scenarios else None
                ),
                "shrinkage": shrinkage_page.shrinkage_entry(
                    self.shrinkage.get(c.initiative), c, self.shrunk_cases.get(c.initiative)
                ),
                "sensitivity": c.sensitivity.records() if c.sensitivity is not None else [],
            }
            for c in self.cases
        ]

    def recommendation(self, key: str) -> Recommendation:
        """What we recommend for initiative ``key``: its review's decision with its case's chance to pay off.

        What would change it comes from the test's remaining plan (:attr:`remaining`) and the
        case's break-even running cost.
        """
        result = self.results.get(key)
        case = self.case(key)
        left = self.remaining.get(key)
        return recommend(
            result.decision.action if result else None,
            case.prob_roi_positive,
            more_units=left.more_units if left else None,
            by_month=left.by_month if left else None,
            break_even_monthly_cost=case.break_even_monthly_cost,
            currency=case.currency,
        )

    def verdict(self) -> HTML:
        """The page's answer: what the initiatives are worth together, and each one's recommendation.

        The lead gives the portfolio's median NPV, its P10 to P90 and the chance that it pays
        off; one line per initiative, highest median NPV first, gives its recommendation and
        what would change it, as the portfolio table and ``results.json`` record them.
        """
        if not self.cases:
            return answer("No initiative has a value case yet.", ["Add its value chain to the value model (params/value.yaml)."])
        cur = self.cases[0].currency
        total = self.portfolio.total().to_dict()
        lead = (
            f"Together the initiatives are worth {fmt.money(total['npv_p50'], cur)} net present value "
            f"(P10 {fmt.money(total['npv_p10'], cur)} to P90 {fmt.money(total['npv_p90'], cur)}); "
            f"{fmt.probability(total['prob_roi_positive'])} chance of a positive return."
        )
        lines = []
        rows = sorted(self.records(), key=lambda r: (r["npv_p50"] is None, -(r["npv_p50"] or 0.0)))
        for r in rows:
            change = f"; {r['what_would_change']}" if r["what_would_change"] else ""
            lines.append(
                f"{r['name']}: {r['recommendation']}{change} (NPV {fmt.money(r['npv_p50'], cur)}; "
                f"{fmt.probability(r['prob_roi_positive'])} chance to pay off)."
            )
        return answer(lead, lines, label="The portfolio verdict")

    def shrinkage_views(self) -> list[Any]:
        """The measured effects raw and shrunk, with each case's median NPV both ways, or why nothing was shrunk."""
        return shrinkage_page.shrinkage_views(self.cases, self.shrinkage, self.shrunk_cases)

    def portfolio_records(self) -> list[dict[str, Any]]:
        """The results.json ``portfolio`` section: the initiatives together, or nothing without a case."""
        return [self.portfolio.total().to_dict()] if self.cases else []

    def tei_table(self, key: str) -> pd.DataFrame:
        """The yearly TEI table of one case (risk-adjusted), amounts formatted for readers.

        Returns
        -------
        pandas.DataFrame
            Column ``line`` then Initial, Year 1..n, Total and Present value; blank where
            a figure does not apply (the total and present value of cumulative net benefits)
            and for the present value of net benefits: that is the NPV, which every page
            states as the Monte Carlo median with its range (:meth:`InvestmentCase.summary`),
            not at the central inputs.
        """
        case = self.case(key)
        frame = case.to_frame().reset_index()
        amounts = [c for c in frame.columns if c != "line"]
        for col in amounts:
            frame[col] = [fmt.money(v, case.currency) if np.isfinite(v) else "" for v in frame[col]]
        frame.loc[frame["line"] == "Net benefits", "Present value"] = ""
        return frame

    def case_views(self) -> list[Any]:
        """Per initiative: a heading, the value chain, the waterfall, the TEI table and the evidence.

        Returns
        -------
        list
            Markdown, Altair charts and HTML tables, in reading order, for ``display(*views)``.
        """

        views: list[Any] = []
        for case in self.cases:
            ini = self.model.initiative(case.initiative)
            views.append(Markdown(f"### {escape_md(case.name)}\n\n{escape_md(' '.join(self.evidence_lines(case.initiative)))}"))
            views.append(value_charts.waterfall_chart(case))
            views.append(
                table(
                    self.tei_table(case.initiative),
                    caption=(
                        f"Investment case (TEI, {self.model.horizon_years} years, discounted at "
                        f"{fmt.percent(self.model.discount_rate)}; the Initial column is not discounted); "
                        f"risk adjustment: benefits cut {fmt.percent(ini.risk.benefits)}, "
                        f"costs raised {fmt.percent(ini.risk.costs)}."
                    ),
                )
            )
            views.append(table(case.summary(), caption="With the uncertainty carried through (Monte Carlo)."))
            if case.sensitivity is not None and case.sensitivity.swings:
                views.append(value_charts.tornado_chart(case))
            evidence = self.evidence[self.evidence["initiative"] == case.initiative].drop(columns="initiative")
            evidence = evidence.assign(**{c: evidence[c].map(catalog.in_words) for c in ("step", "what")})
            views.append(table(evidence, caption="What each number rests on."))
        return views

    def what_if(self, key: str) -> WhatIf:
        """Initiative ``key``'s case on a grid of causal share, extrapolation, discount rate and cost overrun.

        Simulated with the case's own arguments, draws and seed, so the grid's default row is the case.
        """
        case = self.case(key)
        value_inputs = self.inputs.value_inputs(self.model) if self.inputs is not None else None
        run = case_arguments(self.model, key, self.results.get(key), self.drivers, value_inputs,
                             n=case.n_draws, seed=case.seed)
        return what_if_grid(self.model, key, **run)

    def what_if_views(self) -> list[Any]:
        """Per initiative: a heading and the what-if chart (sliders, offline), for ``display(*views)``."""
        views: list[Any] = []
        for case in self.cases:
            views.append(Markdown(f"### {escape_md(case.name)}"))
            views.append(what_if_chart(self.what_if(case.initiative)))
        return views

    def evidence_lines(self, key: str) -> list[str]:
        """What a case rests on, in sentences: the chain, its grade, how a direct measurement entered,
        each implausible benefit and the scenario beyond the measured units."""
        case = self.case(key)
        ini = self.model.initiative(key)
        lines = [value_charts.chain_sentence(case), grade_sentence(case.grade)]
        if (combined := outcome_sentence(case, ini.outcome)) is not None:
            lines.append(combined)
        lines += [
            f"Implausible: its yearly benefit ({fmt.money(b.benefit_yearly, case.currency)}) is larger than "
            f"{plausibility.POOL_WORDS[b.pool]} ({fmt.money(b.pool_yearly, case.currency)})."
            for b in case.bounds if b.flagged
        ]
        if key in self.scenarios:
            sc = self.scenarios[key].to_dict()
            lines.append(
                f"Base case: the {fmt.percent(case.measured_share)} of customers where the effect was measured. "
                f"Scenario, applied to all customers: NPV {fmt.money(sc['npv_p50'], case.currency)} "
                f"(P10 to P90 {fmt.money_range(sc['npv_p10'], sc['npv_p90'], case.currency)})."
            )
        return lines

    def caveats(self) -> list[str]:
        """The caveats that matter for these cases, in plain sentences."""
        ev = self.evidence
        return case_caveats(
            self.model,
            self.records(),
            designs={k: r.design for k, r in self.results.items() if k in {c.initiative for c in self.cases}},
            measured=list(ev[(ev["step"] == "IT metric change") & (ev["source"] == "experiment")]["initiative"]),
            linked=list(ev[ev["source"] == "drivers"]["initiative"].unique()),
            unvalued=self.unvalued,
        )


_REGISTER = "the portfolio office's register"
_UNIT_VALUE_PREFIXES = ("clv:", "cost_per_ticket", "agent_hourly_rate", "employee_hourly_rate",
                        "outage_revenue_per_minute", "revenue_per_conversion", "conversion_margin")


def _origin_words(origins: set[str]) -> str:
    if origins == {"warehouse"}:
        return "the warehouse"
    if "warehouse" in origins:
        return "the warehouse and stated assumptions (params/value.yaml)"
    return _SOURCE_WORDS["assumption"]


def _evidence_rows(
    model: ValueModel,
    case: InvestmentCase,
    result: InitiativeResult | None,
    measured: MetricEffect | None,
    customers_from_warehouse: bool,
) -> list[dict[str, Any]]:
    """What each step of a case's chain rests on (``model`` has the warehouse inputs in place)."""
    ini = model.initiative(case.initiative)
    quantities = chain_quantities(model, case.initiative)
    unit_origins = {q.origin for name, q in quantities.items() if name.startswith(_UNIT_VALUE_PREFIXES)}
    rows = []
    for _, step in case.chain.iterrows():
        source, name = str(step["source"]), str(step["step"])
        if name == "IT metric change":
            if measured is not None and result is not None:
                change = _metric_change(
                    measured.metric, measured.estimate_abs, measured.ci_low, measured.ci_high, 1 - measured.alpha
                )
                design = DESIGN_WORDS.get(result.design, result.design)
                basis = f"{design} of {case.name}: {narrative.interval_text(change)}"
            else:
                basis = _SOURCE_WORDS["assumption"] + ": no measured effect on this metric yet"
        elif name.startswith("Change in"):
            basis = _SOURCE_WORDS.get(source, source)
        elif name == "Population per month":
            from_wh = source == "warehouse" or (ini.population.segments is not None and customers_from_warehouse)
            basis = "the warehouse" if from_wh else _SOURCE_WORDS["assumption"]
        elif name == "Value per unit":
            basis = _origin_words(unit_origins)
        else:
            basis = "computed from the steps above"
        money = name in ("Value per unit", "Value per month")
        unit = "money" if money else narrative.unit_for_metric(str(step["what"]))
        rows.append(
            {
                "initiative": case.initiative,
                "step": name,
                "what": step["what"],
                "value": fmt.value(
                    step["value"], unit, signed=name.endswith("change"), change=True, currency=model.currency
                ),
                "source": source,
                "rests on": basis,
            }
        )
    costs = ini.costs
    rows.append(
        {
            "initiative": case.initiative,
            "step": "Costs",
            "what": "initial, running per month",
            "value": f"{fmt.money(costs.initial.value, model.currency)}, "
            f"{fmt.money(costs.recurring_monthly.value, model.currency)}",
            "source": costs.initial.origin,
            "rests on": _REGISTER if costs.initial.origin == "warehouse" else _SOURCE_WORDS["assumption"],
        }
    )
    return rows


_BETTER = {"higher_is_better": "up", "lower_is_better": "down", "balance": "balance"}


def _metric_change(
    metric: str,
    estimate: float | None,
    low: float | None,
    high: float | None,
    level: float = 0.95,
    label: str | None = None,
) -> narrative.MetricChange:
    """A catalog metric's change as the narrative's :class:`~outcomes.report.narrative.MetricChange`."""
    m = _catalog_metric(metric)
    return narrative.MetricChange(
        label=label or _metric_name(metric),
        estimate=estimate,
        ci_low=low,
        ci_high=high,
        unit=narrative.unit_for_metric(metric),
        better=_BETTER[m.direction] if m is not None else "balance",  # type: ignore[arg-type]
        level=level,
    )


def _catalog_metric(metric: str) -> catalog.Metric | None:
    return catalog.get(metric) if metric in catalog.ids() else None


def _metric_name(metric: str) -> str:
    m = _catalog_metric(metric)
    return m.name if m is not None else metric.replace("_", " ")


def it_demand(model: ValueModel, case: InvestmentCase) -> float | None:
    """Tickets per month the initiative adds (positive) or removes (negative); None when not a ticket chain."""
    if model.initiative(case.initiative).money != "tickets_prevented":
        return None
    return -float(case.steps.units_per_month)


def build_investment(
    model: ValueModel,
    *,
    period: str,
    inputs: WarehouseInputs | None = None,
    drivers: DriversResult | None = None,
    results: Mapping[str, InitiativeResult] | None = None,
    initiatives: Sequence[str] | None = None,
    n: int = montecarlo.DEFAULT_DRAWS,
    seed: int | None = montecarlo.DEFAULT_SEED,
    remaining: Mapping[str, RemainingTest] | None = None,
) -> Investment:
    """Build every initiative's investment case from computed parts.

    Parameters
    ----------
    model : ValueModel
        The value model.
    period : str
        The reported month.
    inputs : WarehouseInputs, optional
        Warehouse figures replacing the stated fallbacks.
    drivers : DriversResult, optional
        Slopes for the links (labelled ``drivers``).
    results : mapping of str to InitiativeResult, optional
        Reviews by initiative id; an initiative's measured effect on the chain's metric
        replaces the stated assumption (labelled ``experiment``).
    initiatives : sequence of str, optional
        Which initiatives of the value model; default all (reviewed ones without a value
        chain are listed in :attr:`Investment.unvalued`).
    n : int
        Monte Carlo draws per case.
    seed : int or None
        Seed of every case's draws; None draws one fresh seed for all of them.
    remaining : mapping of str to RemainingTest, optional
        What each randomized test still needs (:func:`outcomes.report.review.remaining_test`).

    Returns
    -------
    Investment
    """
    results = dict(results or {})
    seed = montecarlo.resolve_seed(seed)  # one seed for every case, so that the portfolio can sum their draws
    keys = list(initiatives) if initiatives is not None else list(model.initiatives)
    value_inputs = inputs.value_inputs(model) if inputs is not None else None
    with_figures = with_inputs(model, value_inputs)
    from_warehouse = bool(value_inputs and value_inputs.customers_by_segment)
    cases, evidence = [], []
    scenarios: dict[str, InvestmentCase] = {}
    runs: dict[str, dict[str, Any]] = {}
    for key in keys:
        ini = model.initiative(key)
        result = results.get(key)
        measured = measured_effect(result, ini.metric) if result is not None else None
        run = case_arguments(model, key, result, drivers, value_inputs, n=n, seed=seed)
        runs[key] = run
        case = montecarlo.simulate(model, key, **run)
        cases.append(case)
        if case.measured_share is not None and case.measured_share < 1 and not case.extrapolated:
            scenarios[key] = montecarlo.simulate(model, key, extrapolate=True, **run)
        evidence += _evidence_rows(with_figures, case, result, measured, from_warehouse)
    effects = {k: r["effect"] for k, r in runs.items() if r["effect"] is not None and r["effect"].sd > 0}
    shrunk = shrinkage.shrink(effects, {k: model.initiative(k).metric for k in effects})
    shrunk_cases = {
        k: montecarlo.simulate(model, k, **{**runs[k], "effect": e.effect(runs[k]["effect"])})
        for k, e in shrunk.items() if e.is_shrunk
    }
    decisions = {k: r.decision.action for k, r in results.items() if k in keys}
    demand = {c.initiative: d for c in cases if (d := it_demand(model, c)) is not None}
    return Investment(
        period=period,
        model=model,
        inputs=inputs,
        drivers=drivers,
        results=results,
        cases=tuple(cases),
        portfolio=build_portfolio(cases, decisions=decisions, it_demand=demand, totalled=shrunk_cases),
        evidence=pd.DataFrame(evidence, columns=["initiative", "step", "what", "value", "source", "rests on"]),
        unvalued=tuple(sorted(set(results) - set(model.initiatives))),
        remaining=dict(remaining or {}),
        scenarios=scenarios,
        shrinkage=shrunk,
        shrunk_cases=shrunk_cases,
    )


def case_arguments(
    model: ValueModel,
    key: str,
    result: InitiativeResult | None,
    drivers: DriversResult | None,
    value_inputs: ValueInputs | None,
    *,
    n: int,
    seed: int,
) -> dict[str, Any]:
    """The arguments of :func:`outcomes.value.montecarlo.simulate` for one initiative's case.

    The review's measured effect on the chain's metric and on its outcome, the drivers
    model's slopes, the warehouse figures, the draws and the seed.
    """
    ini = model.initiative(key)
    measured = measured_effect(result, ini.metric) if result is not None else None
    outcome = measured_effect(result, ini.outcome) if result is not None and ini.links else None
    return {
        "effect": effect_quantity(measured) if measured is not None else None,
        "link_slopes": link_slopes(model, key, drivers),
        "outcome_measured": effect_quantity(outcome) if outcome is not None else None,
        "inputs": value_inputs,
        "n": n,
        "seed": seed,
    }


def evaluate(
    period: str,
    *,
    value_model: str | Path | None = None,
    seed: int | None = montecarlo.DEFAULT_SEED,
    draws: int = montecarlo.DEFAULT_DRAWS,
    engine: str = "duckdb",
    warehouse_path: str | Path | None = None,
    engine_settings: str | Path | None = None,
    initiatives_dir: str | Path | None = None,
    results: Mapping[str, InitiativeResult] | None = None,
) -> Investment:
    """Evaluate every initiative of the value model on the warehouse (what ``03_roi`` shows).

    Parameters
    ----------
    period : str
        The reported month, ``YYYY-MM``.
    value_model : str or Path, optional
        The value model file (default: the project's ``params/value.yaml``).
    seed : int or None
        Monte Carlo seed.
    draws : int
        Monte Carlo draws per case.
    engine : str
        Query engine of the warehouse.
    warehouse_path : str or Path, optional
        The warehouse file (default: the project's).
    engine_settings : str or Path, optional
        The engine settings file (default: the project's).
    initiatives_dir : str or Path, optional
        Where the initiative files are; the active ones are reviewed (default: the project's).
    results : mapping of str to InitiativeResult, optional
        Reviews already made. Without them each active initiative's result is read from
        the report run's shared folder, where ``02_initiative_review`` stored it, or
        reviewed here (:func:`outcomes.report.review.shared_result`).

    Returns
    -------
    Investment
        One case per initiative of the value model, except those whose initiative file
        says ``active: false``.
    """
    period = str(Month.parse(period))
    model = load_model(value_model, initiatives_dir)
    where = {"warehouse_path": warehouse_path, "engine_settings": engine_settings}
    con = store.connect(warehouse_path, engine=engine, spark_settings=engine_settings)  # type: ignore[arg-type]
    specs = {k: load_spec(path) for k, path in active_specs(initiatives_dir).items()}
    inputs = shared_inputs(con, period, model, specs, engine=engine, **where)
    drivers = drivers_estimates(con, period, engine=engine, **where)
    if results is None:
        results = {k: shared_result(spec, period=period, engine=engine, con=con, **where) for k, spec in specs.items()}
    remaining = {
        k: left for k, spec in specs.items()
        if k in results and (left := remaining_test(spec, results[k], period)) is not None
    }
    keys = valued_initiatives(model, initiatives_dir)
    return build_investment(
        model, period=period, inputs=inputs, drivers=drivers, results=results, initiatives=keys, n=draws, seed=seed,
        remaining=remaining,
    )


def valued_initiatives(model: ValueModel, initiatives_dir: str | Path | None = None) -> list[str]:
    """The initiatives the ROI page values, in the value model's order: all but those whose file says ``active: false``."""
    retired = {k for k, (_, active) in initiative_files(initiatives_dir).items() if not active}
    return [k for k in model.initiatives if k not in retired]


def shared_inputs(
    con: ibis.BaseBackend,
    period: str,
    model: ValueModel,
    specs: Mapping[str, Any],
    *,
    engine: str = "duckdb",
    warehouse_path: str | Path | None = None,
    engine_settings: str | Path | None = None,
) -> WarehouseInputs:
    """:func:`warehouse_inputs` for the value model, computed once per report run and shared.

    The ROI page values every case on them and the scorecard prices the customers at stake
    with them (:func:`customer_price`); whichever page asks first computes them, the other
    reads them (:func:`outcomes.cache.get_or_compute`). Outside a run they are computed here.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse on ``engine``.
    period : str
        The reported month, ``YYYY-MM``.
    model : ValueModel
        The value model (its discount rate).
    specs : mapping of str to InitiativeSpec
        The active initiatives' specs, by id (where each effect was measured).
    engine, warehouse_path, engine_settings
        What the warehouse is, for the shared artefact's key.

    Returns
    -------
    WarehouseInputs
    """
    units = measured_units(specs)
    parts = {
        "period": str(Month.parse(period)),
        "months": INPUT_MONTHS,
        "discount_rate": model.discount_rate,
        "measured_units": {k: list(v) for k, v in sorted(units.items())},
        "engine": engine,
    }

    def compute() -> tuple[WarehouseInputs, str]:
        return warehouse_inputs(con, period, discount_rate=model.discount_rate, measured_units=units), con.name

    return cache.get_or_compute(
        "value-inputs", parts, compute, cache.OBJECT,
        source=store.source_stamp(engine, warehouse_path, engine_settings),  # type: ignore[arg-type]
        describe=f"the value model's warehouse inputs up to {parts['period']}",
    )


def customer_price(
    con: ibis.BaseBackend,
    period: str,
    *,
    value_model: str | Path | None = None,
    engine: str = "duckdb",
    warehouse_path: str | Path | None = None,
    engine_settings: str | Path | None = None,
    initiatives_dir: str | Path | None = None,
) -> float | None:
    """What one customer kept is worth, priced as the ROI page prices it.

    The first valued initiative (:func:`valued_initiatives`) whose value runs through
    customers kept gives the price: its segments' lifetime values from the run's shared
    warehouse inputs (:func:`shared_inputs`), weighted as the churners are spread, at
    their central values. It equals the ``value_per_customer_kept`` the ROI page records
    (:meth:`Investment.records`) without waiting for its reviews, so the scorecard can run
    beside the ROI page.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse on ``engine``.
    period : str
        The reported month, ``YYYY-MM``.
    value_model, initiatives_dir : str or Path, optional
        The value model file and the initiative files (default: the project's).
    engine, warehouse_path, engine_settings
        What the warehouse is (:func:`shared_inputs`).

    Returns
    -------
    float or None
        None when no valued initiative keeps customers.
    """
    model = load_model(value_model, initiatives_dir)
    churn = [k for k in valued_initiatives(model, initiatives_dir) if model.initiative(k).money == "churn_avoided"]
    if not churn:
        return None
    specs = {k: load_spec(path) for k, path in active_specs(initiatives_dir).items()}
    inputs = shared_inputs(
        con, period, model, specs, engine=engine, warehouse_path=warehouse_path, engine_settings=engine_settings
    )
    priced = with_inputs(model, inputs.value_inputs(model))
    central = {name: q.value for name, q in chain_quantities(priced, churn[0]).items()}
    return float(unit_value(priced, churn[0], central))


def case_evidence(case: InvestmentCase) -> dict[str, Any]:
    """What a case's value rests on, as results.json records it.

    Returns
    -------
    dict
        ``evidence`` (the case's grade), ``evidence_by_step`` (effect, each link and a
        direct measurement of the outcome), ``outcome_combination`` (chained, combined,
        direct, or None without a direct measurement), ``pv_beyond_horizon_p50`` and
        ``plausibility`` (each pool the yearly benefit was checked against).
    """
    d = case.details()
    return {
        "evidence": case.grade,
        "evidence_by_step": dict(case.grades),
        "outcome_combination": case.outcome.how if case.outcome is not None else None,
        "pv_beyond_horizon_p50": d["pv_beyond_horizon_p50"],
        "plausibility": d["plausibility"],
    }


def scenario_entry(case: InvestmentCase) -> dict[str, Any]:
    """A scenario's figures for results.json: NPV P10/P50/P90 and the chance of a positive ROI."""
    d = case.to_dict()
    return {k: d[k] for k in ("npv_p50", "npv_p10", "npv_p90", "prob_roi_positive")}


def outcome_sentence(case: InvestmentCase, metric: str) -> str | None:
    """How the chain's estimate of the outcome and the initiative's own measurement of it were used.

    Returns
    -------
    str or None
        E.g. "The chain's estimate of churn rate (-0.04 pp) and the initiative's own
        measurement (-0.10 pp, standard error 0.15 pp) disagree beyond their uncertainty:
        the value uses the measurement alone."; None without a measurement.
    """
    o = case.outcome
    if o is None or o.direct_mean is None:
        return None
    unit = narrative.unit_for_metric(metric)
    chained = fmt.value(o.chained_mean, unit, signed=True, change=True)
    direct = fmt.value(o.direct_mean, unit, signed=True, change=True)
    se = fmt.value(o.direct_sd, unit, change=True)
    both = (
        f"The chain's estimate of {_metric_name(metric)} ({chained}) and {case.name}'s own measurement of it "
        f"({direct}, standard error {se})"
    )
    if o.how == "direct":
        return f"{both} disagree beyond their uncertainty: the value uses the measurement alone."
    return (
        f"{both} agree within their uncertainty: the value combines them weighted by their precision "
        f"({fmt.percent(o.weight_direct)} on the measurement)."
    )


def grade_caveats(model: ValueModel, roi: Sequence[Mapping[str, Any]]) -> list[str]:
    """Caveats from the cases' evidence grades, plausibility checks and scenarios (results.json ``roi`` rows)."""
    names = {k: ini.name for k, ini in model.initiatives.items()}
    out = []
    for r in roi:
        name = names.get(r["initiative"], r["initiative"])
        grade = r.get("evidence")
        if grade in ("associational", "assumed"):
            out.append(f"The value of {name} {GRADE_WORDS[grade]}; its chance of a positive ROI holds only as "
                       "far as that does.")
        for b in r.get("plausibility") or ():
            if b["flagged"]:
                out.append(
                    f"Implausible: {name}'s yearly benefit ({fmt.money(b['benefit_yearly'], model.currency)}) is larger "
                    f"than {plausibility.POOL_WORDS[b['pool']]} ({fmt.money(b['pool_yearly'], model.currency)})."
                )
        if r.get("scenario_all_units"):
            out.append(
                f"{name}'s base case counts only the customers where its effect was measured; applying it to all "
                "customers is shown as a separate scenario."
            )
    return out


# --------------------------------------------------------------------------- caveats


def case_caveats(
    model: ValueModel,
    roi: Sequence[Mapping[str, Any]],
    *,
    designs: Mapping[str, str] | None = None,
    measured: Sequence[str] | None = None,
    linked: Sequence[str] | None = None,
    unvalued: Sequence[str] = (),
) -> list[str]:
    """The caveats that matter for a set of investment cases, from their results.

    Parameters
    ----------
    model : ValueModel
        The value model (initiative names).
    roi : sequence of mapping
        results.json ``roi`` entries.
    designs : mapping of str to str, optional
        Evaluation design by initiative id (randomized, did, its).
    measured : sequence of str, optional
        Initiatives whose case rests on a measured effect; the others rest on an assumption.
    linked : sequence of str, optional
        Initiatives whose value runs through the drivers model.
    unvalued : sequence of str, optional
        Evaluated initiatives without a value chain in the value model.

    Returns
    -------
    list of str
    """
    names = {k: ini.name for k, ini in model.initiatives.items()}
    name = lambda key: names.get(key, key)  # noqa: E731
    ids = [r["initiative"] for r in roi]
    out = []
    spans = [name(r["initiative"]) for r in roi if _spans_zero(r)]
    if spans:
        out.append(f"The NPV range of {fmt.join(spans)} runs from a loss (P10) to a gain (P90): that case is not settled.")
    if measured is not None:
        assumed = [name(k) for k in ids if k not in set(measured)]
        if assumed:
            out.append(
                f"No measured effect yet for {fmt.join(assumed)}: the value rests on the stated assumption "
                "in params/value.yaml."
            )
    if linked:
        out.append(
            f"The value of {fmt.join([name(k) for k in linked])} runs through the drivers model: an association between "
            "first response and customer outcomes across regions and months, not proof of cause."
        )
    if unvalued:
        out.append(f"{fmt.join(list(unvalued))} has no value chain in params/value.yaml, so it has no investment case.")
    for key, design in (designs or {}).items():
        if design == "its":
            out.append(
                f"{name(key)} was evaluated by an interrupted time series (no comparison group): "
                "it assumes nothing else changed at the same time."
            )
        elif design == "did":
            out.append(
                f"{name(key)} compares a few treated regions with the others: its interval is approximate, and "
                "its case assumes the same effect wherever it runs."
            )
        elif design == "synthetic_control":
            out.append(
                f"{name(key)} was measured at one site against a weighted mix of the others: its case assumes "
                "the same effect at every site it reaches."
            )
    out += grade_caveats(model, roi)
    out.append(
        f"Each customer kept counts for the months they are expected to stay within the {model.horizon_years}-year "
        "horizon (the rest is shown apart, not in the NPV); benefits are cut and costs raised for risk (TEI), and "
        "different inputs are drawn independently, so inputs that move together would make the ranges wider."
    )
    return out


def _spans_zero(r: Mapping[str, Any]) -> bool:
    lo, hi = r.get("npv_p10"), r.get("npv_p90")
    return not (fmt.is_missing(lo) or fmt.is_missing(hi)) and lo < 0 < hi

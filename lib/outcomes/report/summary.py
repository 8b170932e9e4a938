"""The executive summary: one page for the CIO and the CMO, built from a run's results.

:func:`executive_summary` turns the results of a report run (``results.json`` sections)
into headline sentences, the scorecard headline, the decisions, the ROI table and the
caveats that matter; :func:`summarize` does the same from results already at hand.
Every number shown comes from a result; every value statement carries its range.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown

from outcomes.metrics import catalog
from outcomes.metrics.panel import shared_panel
from outcomes.periods import Month, Window
from outcomes import format as fmt
from outcomes import config
from outcomes.report import narrative
from outcomes.report.answer import answer
from outcomes.report.changes import MonthChanges, report_age_warning, since_previous
from outcomes.report.needs import PACK_LEAD, left_out_sections, not_shown_markdown, pack_left_out
from outcomes.report.text import bullets, escape, md
from outcomes.report.investment import (
    CUSTOMER_METRICS,
    DESIGN_WORDS,
    _metric_change,
    _metric_name,
    case_caveats,
    evaluate,
    load_model,
    register_names,
    review_initiatives,
)
from outcomes.experiment.decision import decision_interval
from outcomes.value import montecarlo
from outcomes.value.model import ValueModel
from outcomes.value.recommendation import from_results
from outcomes.value.portfolio import TOTAL_LABEL
from outcomes.value.words import roi_sentence
from outcomes.warehouse import store
from outcomes.scorecard.card import build_scorecard, load_targets, priority_records, scorecard_records
from outcomes.scorecard.watermelon import watermelon_sentence


DECISION_COLUMNS = ["Initiative", "Design", "Decision", "Primary metric", "Effect", "95% interval"]
ROI_COLUMNS = ["Initiative", "NPV (P50)", "NPV P10 to P90", "ROI (P50)", "Payback", "Chance ROI > 0"]


def _unit(row: Mapping[str, Any]) -> str:
    """The catalog unit of a scorecard row's metric (the unit the scorecard records), else the row's own."""
    mid = str(row["metric"])
    return catalog.get(mid).unit if mid in catalog.ids() else str(row.get("unit", ""))


@dataclass(frozen=True)
class ExecutiveSummary:
    """The one page for the CIO and the CMO, every sentence built from results.

    Attributes
    ----------
    period : str
        The reported month.
    headlines : list of str
        What changed for customers followed by where they stand (churn, conversion,
        CSAT, NPS, lifetime value, each miss with its value at stake, owner and next
        step), what IT delivered, what it is worth, what we recommend, and the scorecard
        in one sentence; then, when the scorecard found one, the watermelon (a service
        whose SLA was met while its users were unhappy).
    scorecard : list of str
        The scorecard headline: targets met and missed, the misses with their numbers.
    decisions : pandas.DataFrame
        One row per initiative: design, decision, primary metric and its effect.
    roi : pandas.DataFrame
        One row per initiative: NPV P50 and P10 to P90, ROI, payback, chance ROI > 0;
        with two initiatives or more, a last row for them together.
    caveats : list of str
        What the reader must keep in mind.
    unavailable : list of str
        What the pack does not show this month and why (pages left out first), from the
        ``unavailable`` rows the run's pre-flight wrote; empty when it shows everything.
    changes : MonthChanges or None
        What changed since the previous published month (None when none is published).
    brief : tuple of str
        The answer in a few short lines (:func:`brief`): what the initiatives are worth,
        each one's recommendation, the scorecard.
    warning : str or None
        The month is older than the run configuration allows
        (:func:`~outcomes.report.changes.report_age_warning`, as on the month's index page).
    """

    period: str
    headlines: list[str]
    scorecard: list[str]
    decisions: pd.DataFrame
    roi: pd.DataFrame
    caveats: list[str]
    unavailable: list[str] = field(default_factory=list)
    changes: MonthChanges | None = None
    brief: tuple[str, ...] = ()
    warning: str | None = None

    def answer(self) -> HTML:
        """The page's answer, short enough for a phone's first screen: the worth, each recommendation, the scorecard."""
        lead, *rest = self.brief or (self.headlines[3],)
        return answer(lead, rest, label="Headlines")

    def not_shown_text(self) -> Markdown:
        """The "Not shown this month" section, only when the pack leaves something out."""
        return not_shown_markdown(self.unavailable, PACK_LEAD)

    def warning_text(self) -> HTML:
        """The report-age warning right after the answer, as the month's index page shows it; empty without one."""
        if not self.warning:
            return HTML("")
        return HTML(f'<p class="outcomes-warning" role="alert">{escape(self.warning)}</p>')

    def changes_text(self) -> Markdown:
        """What changed since the previous published month, as bullets (a sentence when none is published)."""
        if self.changes is None:
            return md("No earlier month is published, so there is nothing to compare with yet.")
        return bullets([f"Compared with {Month.parse(self.changes.previous).label}:", *self.changes.sentences()])


def _row_change(metric_row: Mapping[str, Any], label: str, interval: str = "sequential") -> narrative.MetricChange:
    """A results.json metric row as a change, with the interval its decision rests on.

    ``interval`` is the initiative entry's (``"fixed"`` or ``"sequential"``): the
    anytime-valid interval is quoted only for a sequential test that recorded one.
    """
    m = metric_row
    low, high, _ = decision_interval(
        m.get("ci_low"), m.get("ci_high"), m.get("seq_ci_low"), m.get("seq_ci_high"), interval  # type: ignore[arg-type]
    )
    return _metric_change(str(m["metric"]), m.get("estimate_abs"), low, high, label=label)


def _interval(entry: Mapping[str, Any]) -> str:
    """The interval an initiative entry's decision rests on (results written before it was recorded: sequential)."""
    return str(entry.get("interval", "sequential"))


def _rows(entries: Sequence[Mapping[str, Any]], *, customer: bool) -> list[tuple[str, Mapping[str, Any], str]]:
    out = []
    for e in entries:
        for m in e.get("metrics", []):
            if (m["metric"] in CUSTOMER_METRICS) == customer and not fmt.is_missing(m.get("estimate_abs")):
                out.append((str(e["id"]), m, _interval(e)))
    return out


def _strength(m: Mapping[str, Any], interval: str) -> tuple[bool, float]:
    clear = _row_change(m, "", interval).is_clear
    p = m.get("p_value")
    return clear, -(p if not fmt.is_missing(p) else 1.0)


def customers_sentence(
    initiatives: Sequence[Mapping[str, Any]],
    scorecard: Sequence[Mapping[str, Any]],
    names: Mapping[str, str],
    period: str,
) -> str:
    """What changed for customers: the clearest measured customer effect, else the scorecard's levels."""
    rows = _rows(initiatives, customer=True)
    if rows:
        key, m, interval = max(rows, key=lambda r: _strength(r[1], r[2]))
        label = f"{_metric_name(str(m['metric']))} where {names.get(key, key)} runs"
        return "For customers: " + narrative.metric_change_sentence(_row_change(m, label, interval))
    levels = {r["metric"]: r for r in scorecard if r.get("segment") is None}
    parts = []
    for mid in ("csat", "churn_rate"):
        r = levels.get(mid)
        if r is not None and not fmt.is_missing(r.get("value")):
            unit = _unit(r)
            parts.append(
                f"{catalog.get(mid).name} was {fmt.value(r['value'], unit)} "
                f"({fmt.value(r['previous'], unit)} the month before)"
            )
    if not parts:
        return "For customers: no measured change and no scorecard for this period."
    return f"For customers: {'; '.join(parts)} in {period}; these are monthly levels, not measured effects of IT."


def it_sentence(initiatives: Sequence[Mapping[str, Any]], names: Mapping[str, str]) -> str:
    """What IT delivered: each initiative's primary IT effect with its interval."""
    parts = []
    for e in initiatives:
        for m in e.get("metrics", []):
            if m.get("role") != "primary" or m["metric"] in CUSTOMER_METRICS:
                continue
            change = _row_change(m, names.get(str(e["id"]), str(e["id"])), _interval(e))
            size = fmt.value(change.estimate, change.unit, signed=True, change=True)
            verdict = {"gain": "a clear improvement", "loss": "a clear deterioration", "change": "a clear change"}.get(
                change.verdict, "inconclusive"
            )
            what = _metric_name(str(m["metric"])).lower()
            parts.append(f"{change.label}: {what} {size} ({narrative.interval_text(change)}), {verdict}")
    if not parts:
        return "IT delivered: no initiative has a measured effect yet."
    return "IT delivered: " + "; ".join(parts) + "."


def worth_sentence(
    roi: Sequence[Mapping[str, Any]],
    names: Mapping[str, str],
    currency: str,
    years: int,
    portfolio: Sequence[Mapping[str, Any]] = (),
) -> str:
    """What it is worth: the initiatives together with their range, and the largest case.

    Parameters
    ----------
    roi : sequence of mapping
        results.json ``roi`` rows.
    names : mapping of str to str
        Initiative names by id.
    currency : str
        Reporting currency.
    years : int
        Horizon of the cases.
    portfolio : sequence of mapping
        results.json ``portfolio`` rows (the total, summed draw by draw); without one, the
        median NPVs are added up and said to be a sum of medians.

    Returns
    -------
    str
    """
    usable = [r for r in roi if not fmt.is_missing(r.get("npv_p50"))]
    if not usable:
        return "What it is worth: " + roi_sentence(None)
    top = max(usable, key=lambda r: float(r["npv_p50"]))
    largest = names.get(top["initiative"], top["initiative"])
    if len(usable) == 1:
        return f"What it is worth over {years} years: {largest}: " + roi_sentence(top, currency)
    tail = f"the largest, {largest}: " + roi_sentence(top, currency)
    total = next((p for p in portfolio if not fmt.is_missing(p.get("npv_p50"))), None)
    if total is None:
        median_sum = sum(float(r["npv_p50"]) for r in usable)
        return (
            f"What it is worth: the median NPVs of {len(usable)} initiatives over {years} years add up to "
            f"{fmt.money(median_sum, currency)}; {tail}"
        )
    together = (
        f"{fmt.money(total['npv_p50'], currency)} "
        f"(P10 {fmt.money(total['npv_p10'], currency)} to P90 {fmt.money(total['npv_p90'], currency)}; "
        f"{fmt.probability(total['prob_roi_positive'])} chance the total is positive)"
    )
    return (
        f"What it is worth: the {len(total['initiatives'])} initiatives together are worth {together} "
        f"over {years} years; {tail}"
    )


def recommendation(decisions: Mapping[str, str], roi: Sequence[Mapping[str, Any]], names: Mapping[str, str]) -> str:
    """What we recommend: each initiative's :func:`~outcomes.value.recommendation.from_results`, in one sentence."""
    chance = {r["initiative"]: r.get("prob_roi_positive") for r in roi}
    parts = []
    for key in sorted(set(decisions) | set(chance), key=lambda k: (decisions.get(k) or "~", k)):
        rec = from_results(key, decisions.get(key), roi)
        p = chance.get(key)
        odds = "" if fmt.is_missing(p) else f" ({fmt.probability(p)} chance of a positive ROI)"
        why = f": {rec.reason}" if rec.reason else ""
        parts.append(f"{rec.clause(names.get(key, key))}{why}{odds}")
    if not parts:
        return "We recommend: nothing yet; no initiative has been evaluated."
    return "We recommend: " + "; ".join(parts) + "."


#: The customer metrics the summary's customer headline covers, in its order.
CUSTOMER_HEADLINE_METRICS = ("churn_rate", "conversion_rate", "csat", "nps", "clv")


def _stake_and_step(priority: Mapping[str, Any] | None, currency: str) -> list[str]:
    """"EUR 1.8m at stake", "owner CMO", "next step: ..." of a recorded priority row (what it has)."""
    if priority is None:
        return []
    parts = []
    if not fmt.is_missing(priority.get("value_at_stake_eur")):
        parts.append(f"{fmt.money(priority['value_at_stake_eur'], currency)} at stake")
    if priority.get("owner"):
        parts.append(f"owner {priority['owner']}")
    parts.append(f"next step: {str(priority['next_step']).rstrip('.')}")
    return parts


def customer_scorecard_sentence(
    scorecard: Sequence[Mapping[str, Any]],
    priorities: Sequence[Mapping[str, Any]],
    period: str,
    currency: str = "EUR",
) -> str:
    """Where customers stand: churn, conversion, CSAT, NPS and customer lifetime value this month.

    A metric off its target carries its value at stake (where the scorecard prices it),
    its owner and its next step (the scorecard's ``priorities`` rows); the metrics with the
    most value at stake come first.

    Parameters
    ----------
    scorecard : sequence of mapping
        results.json ``scorecard`` rows.
    priorities : sequence of mapping
        results.json ``priorities`` rows (may be empty: results written before the section existed).
    period : str
        The reported month.
    currency : str
        Currency of the value at stake.

    Returns
    -------
    str
        The sentence, or ``""`` when the scorecard has none of these metrics.
    """
    levels = {r["metric"]: r for r in scorecard if r.get("segment") is None and r["metric"] in CUSTOMER_HEADLINE_METRICS}
    levels = {k: r for k, r in levels.items() if not fmt.is_missing(r.get("value"))}
    if not levels:
        return ""
    ranked = {str(p["metric"]): p for p in priorities}
    order = sorted(levels, key=lambda k: (int(ranked[k]["rank"]) if k in ranked else len(ranked) + 1 + CUSTOMER_HEADLINE_METRICS.index(k)))
    parts = []
    for mid in order:
        r = levels[mid]
        unit = _unit(r)
        text = f"{_metric_name(mid)} {fmt.value(r['value'], unit)}"
        if r.get("status") == "off_target":
            extra = _stake_and_step(ranked.get(mid), currency)
            text += f" against a target of {fmt.value(r['target'], unit)}" + (f" ({'; '.join(extra)})" if extra else "")
        elif r.get("status") == "on_target":
            text += ", on target"
        parts.append(text)
    return f"Customer scorecard in {period}: " + "; ".join(parts) + "."


def scorecard_sentences(
    scorecard: Sequence[Mapping[str, Any]],
    period: str,
    top: int = 4,
    priorities: Sequence[Mapping[str, Any]] = (),
    currency: str = "EUR",
    steps: bool = True,
) -> list[str]:
    """The scorecard headline: how many targets are met, and the misses with their numbers.

    With the scorecard's ``priorities`` rows, the misses come in their order (the most
    value at stake first) and each says its value at stake and (with ``steps``) its next step.
    """
    rows = [r for r in scorecard if r.get("segment") is None]
    if not rows:
        return [f"No scorecard for {period}."]
    on = [r for r in rows if r.get("status") == "on_target"]
    ranked = {str(p["metric"]): p for p in priorities}
    off = sorted(
        (r for r in rows if r.get("status") == "off_target"),
        key=lambda r: int(ranked[r["metric"]]["rank"]) if r["metric"] in ranked else len(ranked) + 1,
    )
    out = [f"{len(on)} of {len(on) + len(off)} metrics with a target met it in {period}; {len(off)} missed it."]
    defaults = [r for r in on if r.get("target_basis") in ("default", "proposed")]
    if defaults:
        out[0] += (
            f" {len(defaults)} of those met rest on a target no one has agreed yet (catalog default or proposal): "
            "agree them in params/targets.yaml."
        )
    for r in off[:top]:
        mid = str(r["metric"])
        unit = _unit(r)
        value, target, previous = (fmt.value(r[k], unit) for k in ("value", "target", "previous"))
        owner = f" Owner: {r['owner']}." if r.get("owner") else ""
        sentence = f"{_metric_name(mid)}: {value} against a target of {target} ({previous} the month before).{owner}"
        priority = ranked.get(str(mid))
        if priority is not None:
            if not fmt.is_missing(priority.get("value_at_stake_eur")):
                sentence += f" At stake: {fmt.money(priority['value_at_stake_eur'], currency)}."
            sentence += f" Next step: {priority['next_step']}" if steps else ""
        out.append(sentence)
    return out


def scorecard_answer(
    scorecard: Sequence[Mapping[str, Any]],
    period: str,
    priorities: Sequence[Mapping[str, Any]] = (),
    currency: str = "EUR",
) -> HTML:
    """The scorecard page's answer: targets met and missed, then the top three misses with their numbers, owner and value at stake.

    The next steps are left to the page's "What to do" table, so the answer fits a phone's first screen.

    Parameters
    ----------
    scorecard : sequence of mapping
        results.json ``scorecard`` rows.
    period : str
        The reported month.
    priorities : sequence of mapping
        results.json ``priorities`` rows: the misses come in their order (the most value at
        stake first), as in the executive summary's scorecard.
    currency : str
        Currency of the value at stake.
    """
    first, *rest = scorecard_sentences(scorecard, period, top=3, priorities=priorities, currency=currency, steps=False)
    lead, _, note = first.partition(". ")
    return answer(lead.rstrip(".") + ".", [*rest, note], label="Where the scorecard stands")


def brief(
    decisions: Mapping[str, str],
    roi: Sequence[Mapping[str, Any]],
    portfolio: Sequence[Mapping[str, Any]],
    names: Mapping[str, str],
    currency: str,
    scorecard_line: str,
) -> tuple[str, ...]:
    """The executive summary's answer in a few short lines.

    Parameters
    ----------
    decisions : mapping of str to str
        The review's decision by initiative id.
    roi, portfolio : sequence of mapping
        ``results.json`` rows; the portfolio row (else the only case) gives the worth.
    names : mapping of str to str
        Initiative names by id.
    currency : str
        Currency of the amounts.
    scorecard_line : str
        The scorecard's headline; its first sentence is kept.

    Returns
    -------
    tuple of str
        What the initiatives are worth, one line per initiative (its recommendation and
        chance of a positive ROI), then the scorecard.
    """
    total = portfolio[0] if portfolio else (roi[0] if len(roi) == 1 else None)
    worth = (
        f"The initiatives are worth {fmt.money(total['npv_p50'], currency)} together "
        f"(P10 {fmt.money(total['npv_p10'], currency)} to P90 {fmt.money(total['npv_p90'], currency)})."
        if total is not None else "No initiative has a value case yet."
    )
    chance = {str(r["initiative"]): r.get("prob_roi_positive") for r in roi}
    lines = []
    for key in sorted(set(decisions) | set(chance), key=lambda k: names.get(k, k)):
        rec = from_results(key, decisions.get(key), roi)
        odds = "" if fmt.is_missing(chance.get(key)) else f" ({fmt.probability(chance[key])} chance of a positive ROI)"
        lines.append(f"{names.get(key, key)}: {rec.text}{odds}.")
    return (worth, *lines, scorecard_line.split(". ")[0].rstrip(".") + ".")


def results_brief(doc: Mapping[str, Any], period: str, currency: str = "EUR") -> tuple[str, ...]:
    """The executive summary's answer (:func:`brief`) from a month's ``results.json``, for the month's index page.

    Initiatives are named as their ``roi`` rows record them, else by id.
    """
    roi = list(doc.get("roi", []))
    names = {str(r["initiative"]): str(r["name"]) for r in roi if r.get("name")}
    decisions = {str(e["id"]): str(e["decision"]) for e in doc.get("initiatives", [])}
    score = scorecard_sentences(list(doc.get("scorecard", [])), period)
    return brief(decisions, roi, list(doc.get("portfolio", [])), names, currency, "Scorecard: " + score[0])


def summarize(
    results: Mapping[str, Sequence[Any]],
    model: ValueModel,
    period: str,
    names: Mapping[str, str] | None = None,
) -> ExecutiveSummary:
    """Build the executive summary from the sections of a results document.

    Parameters
    ----------
    results : mapping
        ``scorecard``, ``initiatives``, ``roi`` and (optionally) ``portfolio``,
        ``priorities`` and ``watermelons`` rows (results.json sections).
    model : ValueModel
        The value model (currency, horizon; initiative names where nothing else names them).
    period : str
        The reported month.
    names : mapping of str to str, optional
        Initiative names by id from the register (:func:`~outcomes.report.investment.register_names`);
        they and the names recorded in ``roi`` rows come before the value model's.

    Returns
    -------
    ExecutiveSummary
    """
    entries = list(results.get("initiatives", []))
    roi = list(results.get("roi", []))
    scorecard = list(results.get("scorecard", []))
    recorded_names = {str(r["initiative"]): str(r["name"]) for r in roi if r.get("name")}
    names = {**{k: ini.name for k, ini in model.initiatives.items()}, **recorded_names, **(names or {})}
    decisions = {str(e["id"]): str(e["decision"]) for e in entries}
    cur = model.currency
    priorities = list(results.get("priorities", []))
    score = scorecard_sentences(scorecard, period, priorities=priorities, currency=cur)
    customers = " ".join(
        part for part in (customers_sentence(entries, scorecard, names, period),
                          customer_scorecard_sentence(scorecard, priorities, period, cur)) if part
    )
    headlines = [
        customers,
        it_sentence(entries, names),
        worth_sentence(roi, names, cur, model.horizon_years, results.get("portfolio", [])),
        recommendation(decisions, roi, names),
        "Scorecard: " + score[0],
    ]
    melons = watermelon_sentence(list(results.get("watermelons", [])))
    if melons:
        headlines.append(melons)
    decision_rows = []
    for e in entries:
        primary = next((m for m in e.get("metrics", []) if m.get("role") == "primary"), None)
        change = _row_change(primary, "", _interval(e)) if primary else None
        decision_rows.append(
            {
                "Initiative": names.get(str(e["id"]), str(e["id"])),
                "Design": DESIGN_WORDS.get(str(e["design"]), str(e["design"])),
                "Decision": from_results(str(e["id"]), str(e["decision"]), roi).text,
                "Primary metric": _metric_name(str(primary["metric"])) if primary else fmt.NOT_AVAILABLE,
                "Effect": (
                    fmt.value(change.estimate, change.unit, signed=True, change=True)
                    if change
                    else fmt.NOT_AVAILABLE
                ),
                "95% interval": narrative.bounds_text(change) if change else fmt.NOT_AVAILABLE,
            }
        )
    ordered = sorted(roi, key=lambda r: -(r["npv_p50"] if not fmt.is_missing(r["npv_p50"]) else -np.inf))
    together = [{**p, "initiative": TOTAL_LABEL} for p in results.get("portfolio", [])[:1] if len(roi) > 1]
    roi_rows = [
        {
            "Initiative": names.get(r["initiative"], r["initiative"]),
            "NPV (P50)": fmt.money(r["npv_p50"], cur),
            "NPV P10 to P90": fmt.money_range(r["npv_p10"], r["npv_p90"], cur),
            "ROI (P50)": fmt.percent(r["roi_p50"]),
            "Payback": fmt.months(r["payback_months"]),
            "Chance ROI > 0": fmt.probability(r["prob_roi_positive"]),
        }
        for r in [*ordered, *together]
    ]
    roi_table = pd.DataFrame(roi_rows, columns=ROI_COLUMNS)
    roi_table.attrs["total_row"] = bool(together)
    churn_links = {k for k, ini in model.initiatives.items() if any(lk.to in CUSTOMER_METRICS for lk in ini.links)}
    reviewed = [str(e["id"]) for e in entries]
    caveats = case_caveats(
        model,
        roi,
        designs={str(e["id"]): str(e["design"]) for e in entries},
        measured=reviewed,
        linked=[r["initiative"] for r in roi if r["initiative"] in churn_links],
        unvalued=[k for k in reviewed if k not in model.initiatives],
    )
    return ExecutiveSummary(
        period=period,
        headlines=headlines,
        scorecard=score,
        decisions=pd.DataFrame(decision_rows, columns=DECISION_COLUMNS),
        roi=roi_table,
        caveats=caveats,
        brief=brief(decisions, roi, results.get("portfolio", []), names, cur, "Scorecard: " + score[0]),
    )


def complete_results(
    found: Mapping[str, Sequence[Any]],
    *,
    period: str,
    value_model: str | Path | None = None,
    seed: int | None = montecarlo.DEFAULT_SEED,
    draws: int = montecarlo.DEFAULT_DRAWS,
    engine: str = "duckdb",
    history_months: int = 13,
    warehouse_path: str | Path | None = None,
    engine_settings: str | Path | None = None,
    initiatives_dir: str | Path | None = None,
    targets_file: str | Path | None = None,
) -> dict[str, list[Any]]:
    """The run's results, with any empty section computed here.

    In a report run the scorecard, the initiative reviews and the ROI notebook have
    recorded their sections before the executive summary runs; opened on its own, the
    summary computes what is missing the same way those notebooks do.

    Parameters
    ----------
    found : mapping
        Sections recorded so far (``report.results()``).
    period : str
        The reported month.
    value_model : str or Path
        ``params/value.yaml``.
    seed, draws : int
        Monte Carlo settings for a missing ROI section.
    engine : str
        Query engine of the warehouse.
    history_months : int
        Months of panel behind a missing scorecard.
    warehouse_path, engine_settings, initiatives_dir, targets_file : str or Path, optional
        The warehouse, engine settings, initiative files and scorecard targets (default:
        the project's).

    Returns
    -------
    dict
        ``scorecard``, ``initiatives``, ``roi`` and ``portfolio`` rows (the portfolio is
        computed with a missing ROI section; recorded ROI rows are used with the portfolio
        recorded beside them, if any), and ``priorities`` rows computed with a missing
        scorecard. A section of a page the run's pre-flight left out stays empty.
    """

    out = {k: list(v) for k, v in found.items()}
    left_out = left_out_sections(found)  # a page the pre-flight left out has nothing to compute from
    missing = [k for k in ("scorecard", "initiatives", "roi") if not out.get(k) and k not in left_out]
    if not missing:
        return out
    where = {"warehouse_path": warehouse_path, "engine_settings": engine_settings}
    con = store.connect(warehouse_path, engine=engine, spark_settings=engine_settings)  # type: ignore[arg-type]
    if "initiatives" in missing or "roi" in missing:
        reviews = review_initiatives(period, con=con, folder=initiatives_dir)
        if "initiatives" in missing:
            out["initiatives"] = [r.entry() for r in reviews.values()]
        if "roi" in missing:
            results = {k: r.result for k, r in reviews.items()}
            inv = evaluate(
                period, value_model=value_model, seed=seed, draws=draws, engine=engine,
                initiatives_dir=initiatives_dir, results=results, **where,
            )
            out["roi"] = inv.records()
            out["portfolio"] = inv.portfolio_records()
    if "scorecard" in missing:
        window = Window.last(history_months, ending=period)
        panel = shared_panel(con, start=window.first_month, end=window.last_month, segment="all", engine=engine, **where)
        card = build_scorecard(panel, period, targets=load_targets(targets_file))
        out["scorecard"] = scorecard_records(card)
        out["priorities"] = priority_records(card)
    return out


def executive_summary(
    found: Mapping[str, Sequence[Any]],
    *,
    period: str,
    value_model: str | Path | None = None,
    seed: int | None = montecarlo.DEFAULT_SEED,
    draws: int = montecarlo.DEFAULT_DRAWS,
    engine: str = "duckdb",
    warehouse_path: str | Path | None = None,
    engine_settings: str | Path | None = None,
    initiatives_dir: str | Path | None = None,
    targets_file: str | Path | None = None,
    reports_dir: str | Path | None = None,
    max_report_age_months: int | None = None,
    today: dt.date | None = None,
) -> ExecutiveSummary:
    """The executive summary of a month (what ``00_executive_summary`` shows).

    Parameters
    ----------
    found : mapping
        Sections recorded by the run's other notebooks (``report.results()``); missing
        ones are computed (:func:`complete_results`).
    period : str
        The reported month.
    value_model : str or Path
        ``params/value.yaml``.
    seed, draws : int
        Monte Carlo settings, used only when the ROI section is missing.
    engine : str
        Query engine of the warehouse.
    warehouse_path, engine_settings, initiatives_dir, targets_file : str or Path, optional
        Where missing sections are computed from (default: the project's).
    reports_dir : str or Path, optional
        The published months; the latest one before ``period`` is compared with
        (:func:`outcomes.report.changes.since_previous`). None: no comparison.
    max_report_age_months : int, optional
        The run configuration's limit: a month older than this before ``today`` carries
        the report-age warning. None: no warning.
    today : datetime.date, optional
        The run's date (default: today).

    Returns
    -------
    ExecutiveSummary
    """
    period = str(Month.parse(period))
    model = load_model(value_model, initiatives_dir)
    results = complete_results(
        found, period=period, value_model=value_model, seed=seed, draws=draws, engine=engine,
        warehouse_path=warehouse_path, engine_settings=engine_settings, initiatives_dir=initiatives_dir,
        targets_file=targets_file,
    )
    summary = summarize(results, model, period, names=register_names())
    warning = (
        report_age_warning(period, today or dt.date.today(), max_report_age_months)
        if max_report_age_months is not None else None
    )
    summary = replace(summary, unavailable=pack_left_out(found), warning=warning)
    if reports_dir is None:
        return summary
    return replace(summary, changes=since_previous(config.resolve(reports_dir), period, results))

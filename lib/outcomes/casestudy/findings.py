"""Findings: the headline numbers of a case study, as rows of ``results.json`` ``findings``.

A case-study notebook builds its rows with :func:`finding` (any number),
:func:`from_effect` (an experiment's effect), :func:`from_test` (a whole randomized test
and its campaign money) or :func:`from_customer_value` (CLV) and records them with
``report.record("findings", rows)``. The overview reads every notebook's rows back with
``report.results()["findings"]`` and shows them with :func:`overview` and
:func:`headlines`. The fields are documented in ``docs/results-schema.md``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pandas as pd
from IPython.display import HTML, Markdown

from outcomes import format as fmt
from outcomes.casestudy.clv_compare import ValueComparison
from outcomes.experiment.results import InitiativeResult, MetricEffect
from outcomes.report import results
from outcomes.report.tables import table
from outcomes.report.text import escape_md
from outcomes.casestudy.campaign import CampaignROI

Section = Literal["itsm", "delivery", "experiment", "customer_value", "churn"]
Better = Literal["higher", "lower"] | None

#: How sections are named on pages, in reading order.
SECTION_LABELS = {
    "itsm": "IT service management",
    "delivery": "Delivery and satisfaction",
    "experiment": "E-mail experiment",
    "customer_value": "Customer value",
    "churn": "Churn",
}


def finding(
    *,
    section: Section,
    dataset: str,
    metric: str,
    label: str,
    estimate: float,
    unit: str,
    sentence: str,
    ci_low: float | None = None,
    ci_high: float | None = None,
    better: Better = None,
    n: int | None = None,
) -> dict[str, Any]:
    """One ``findings`` row, checked against the schema.

    Parameters
    ----------
    section, dataset, metric, label, estimate, unit, sentence, ci_low, ci_high, better, n
        The fields of ``docs/results-schema.md`` (``findings`` rows).

    Returns
    -------
    dict
        The row, ready for ``report.record("findings", rows)``.

    Raises
    ------
    ReportRunError
        When a field breaks the schema (the message names the field and the rule).
    """
    row = results.to_jsonable(
        {
            "section": section, "dataset": dataset, "metric": metric, "label": label, "estimate": estimate,
            "ci_low": ci_low, "ci_high": ci_high, "unit": unit, "better": better, "n": n, "sentence": sentence,
        }
    )
    results.check_rows("findings", [row], where=f"finding {metric!r}")
    return row


def from_effect(effect: MetricEffect, *, section: Section, dataset: str, metric: str, label: str | None = None) -> dict[str, Any]:
    """A finding from an experiment's effect: treatment minus control, with its interval.

    Rates (unit ``fraction``) are stated in percentage points (``pp``); other metrics in
    their unit. ``n`` counts the units of both arms.

    Parameters
    ----------
    effect : MetricEffect
        From an :class:`~outcomes.experiment.results.InitiativeResult`.
    section, dataset, metric : str
        The row's identity.
    label : str, optional
        Plain words; defaults to ``"<metric name>, <arm> vs <control>"``.

    Returns
    -------
    dict
        The row.
    """
    scale, unit = (100.0, "pp") if effect.unit == "fraction" else (1.0, effect.unit or "units")
    label = label or f"{effect.name}, {effect.arm} vs {effect.control_arm}"
    if not effect.estimable:
        raise ValueError(f"effect {effect.metric!r} ({effect.arm}) has no estimate; list it as unavailable instead")
    sentence = (
        f"{effect.arm} vs {effect.control_arm}: {effect.name} changed by {fmt.change(effect.estimate_abs, effect.unit)} "
        f"({fmt.confidence(effect.alpha)} CI {fmt.interval(effect.ci_low, effect.ci_high, effect.unit)})."
    )
    return finding(
        section=section, dataset=dataset, metric=metric, label=label, estimate=effect.estimate_abs * scale,
        ci_low=effect.ci_low * scale, ci_high=effect.ci_high * scale, unit=unit, better=effect.direction,
        n=effect.n_control + effect.n_treatment, sentence=sentence,
    )


def _arm_id(arm: str) -> str:
    """A metric-id-safe form of an arm name (``Mens E-Mail`` -> ``mens_e-mail``)."""
    return re.sub(r"[^a-z0-9_.-]+", "_", arm.lower()).strip("_") or "arm"


def from_test(
    result: InitiativeResult, *, section: Section, dataset: str, rois: Sequence[CampaignROI] = ()
) -> list[dict[str, Any]]:
    """Findings of a randomized test: every estimable effect, CUPED's variance reduction, campaign money.

    Parameters
    ----------
    result : InitiativeResult
        The analysed test (whole population only; segment effects are ideas, not findings).
    section, dataset : str
        The rows' identity.
    rois : sequence of CampaignROI
        Net value per batch of contacts, one per treatment arm (optional).

    Returns
    -------
    list of dict
        Metric ids ``<metric>_lift_<arm>``, ``cuped_variance_reduction_<arm>`` (primary
        metric, when CUPED was applied) and ``net_per_<per>_<arm>``.
    """
    rows = [
        from_effect(e, section=section, dataset=dataset, metric=f"{e.metric}_lift_{_arm_id(e.arm)}")
        for e in result.effects
        if e.estimable
    ]
    for e in result.effects:
        if e.role == "primary" and math.isfinite(e.variance_reduction):
            rows.append(finding(
                section=section, dataset=dataset, metric=f"cuped_variance_reduction_{_arm_id(e.arm)}",
                label=f"variance of {e.name} removed by CUPED, {e.arm} vs {e.control_arm}",
                estimate=100 * e.variance_reduction, unit="%", better="higher", n=e.n_control + e.n_treatment,
                sentence=f"Adjusting for the pre-period covariate (CUPED) removed {e.variance_reduction:.2%} of the "
                f"variance of the {e.arm} comparison of {e.name}.",
            ))
    for r in rois:
        est, low, high = r.net_per_batch
        rows.append(finding(
            section=section, dataset=dataset, metric=f"net_per_{r.per}_{_arm_id(r.arm)}",
            label=f"net margin per {r.per:,} contacts, {r.arm} (stated cost and margin)", estimate=est,
            ci_low=low, ci_high=high, unit=r.currency or "money", better="higher", n=r.units, sentence=r.summary(),
        ))
    return rows


def from_customer_value(comparison: ValueComparison, *, section: Section, dataset: str) -> list[dict[str, Any]]:
    """Findings of a customer-value analysis: both CLVs like for like, the hold-out check and the churn proxy.

    Parameters
    ----------
    comparison : ValueComparison
        The simple and the model-based value, both counting repeat purchases over the
        model's horizon (:func:`outcomes.casestudy.clv_compare.compare_values`).
    section, dataset : str
        The rows' identity.

    Returns
    -------
    list of dict
        Metric ids ``model_clv`` (interval widened by the hold-out miss), ``simple_clv``
        (no interval: its inputs are taken as known), ``holdout_forecast_error`` and
        ``monthly_churn_proxy``; the model's value first.
    """
    result, simple, holdout = comparison.model, comparison.simple, comparison.holdout
    whole = result.segments.iloc[0]
    cur = result.currency or "money"
    n = int(whole["customers"])
    low, high = comparison.interval if result.draws else (None, None)
    months = result.horizon_months
    return [
        finding(
            section=section, dataset=dataset, metric="model_clv",
            label=f"discounted margin of repeat purchases per customer over {months} months, BG/NBD + Gamma-Gamma "
            "(interval widened by the hold-out miss)",
            estimate=comparison.model_value, ci_low=low, ci_high=high, unit=cur, better="higher", n=n,
            sentence=f"From each customer's own purchase history, the next {months} months of repeat purchases are worth "
            f"{fmt.significant(comparison.model_value, 3)} {cur} of margin per customer"
            + (
                f" ({fmt.significant(low, 3)} to {fmt.significant(high, 3)}, the parameters' 95% interval widened by the "
                f"model's {holdout.error:+.0%} miss on unseen months); the simple formula, like for like, gives "
                f"{fmt.significant(simple.value, 3)} {cur}, {comparison.verdict()} that range."
                if low is not None else "."
            ),
        ),
        finding(
            section=section, dataset=dataset, metric="simple_clv",
            label=f"discounted margin of repeat purchases per customer over {months} months, simple formula",
            estimate=simple.value, unit=cur, better="higher", n=holdout.customers,
            sentence=f"The simple formula (repeat spend per month x margin, kept with the monthly churn, discounted, "
            f"over {months} months) puts a customer's value at {fmt.significant(simple.value, 3)} {cur}, treating every "
            "customer alike.",
        ),
        finding(
            section=section, dataset=dataset, metric="holdout_forecast_error",
            label=f"repeat purchases forecast vs actual over {holdout.holdout_months:.0f} unseen months",
            estimate=100 * holdout.error, unit="%", better=None, n=holdout.customers,
            sentence=f"On {holdout.holdout_months:.0f} months the model had not seen, it forecast {holdout.predicted:,.0f} "
            f"repeat purchases against {holdout.actual:,.0f} made ({holdout.error:+.1%}).",
        ),
        finding(
            section=section, dataset=dataset, metric="monthly_churn_proxy",
            label="monthly churn read from customers silent in the hold-out period", estimate=100 * holdout.monthly_churn,
            unit="%", better="lower", n=holdout.customers,
            sentence=f"{holdout.silent_share:.0%} of customers bought nothing in the {holdout.holdout_months:.0f} hold-out "
            f"months, about {holdout.monthly_churn:.1%} lost a month (a proxy: silent customers may come back).",
        ),
    ]


def overview_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One line per finding: section, dataset, what, estimate, interval, unit, better, n.

    Parameters
    ----------
    rows : sequence of dict
        ``findings`` rows (``report.results()["findings"]``).

    Returns
    -------
    DataFrame
        In section order, then in recorded order; numbers formatted to 3 significant digits.
    """
    order = {name: i for i, name in enumerate(SECTION_LABELS)}
    frame = pd.DataFrame(
        [
            {
                "section": SECTION_LABELS.get(r["section"], r["section"]),
                "dataset": r["dataset"],
                "finding": r["label"],
                "estimate": fmt.significant(r["estimate"], missing="–"),
                "95% interval": (
                    f"{fmt.significant(r['ci_low'], missing='–')} to {fmt.significant(r['ci_high'], missing='–')}" if r["ci_low"] is not None and r["ci_high"] is not None else "–"
                ),
                "unit": r["unit"],
                "better": r["better"] or "–",
                "n": f"{r['n']:,}" if r["n"] is not None else "–",
                "_order": order.get(r["section"], len(order)),
            }
            for r in rows
        ],
        columns=["section", "dataset", "finding", "estimate", "95% interval", "unit", "better", "n", "_order"],
    )
    return frame.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)


def overview(rows: Sequence[dict[str, Any]]) -> HTML | Markdown:
    """The findings as a table, or a sentence saying that none were recorded.

    Parameters
    ----------
    rows : sequence of dict
        ``findings`` rows.

    Returns
    -------
    HTML or Markdown
        The table; when ``rows`` is empty (the notebook runs alone, outside the pack run),
        a sentence saying so and how to run the whole pack.
    """
    if not rows:
        return Markdown(
            "*No findings were recorded in this run*: this page was run on its own. Run the whole pack "
            "(`outcomes run --config params/case_study.yaml`) to read every notebook's findings here."
        )
    return table(overview_frame(rows))


#: How :func:`headlines` picks a section's headline findings, written on the page with them.
HEADLINE_RULE = (
    "In each section, only findings whose 95% interval (or stated range) excludes zero can be headlines: money at "
    "stake first, the largest amount first; then differences (in percentage points or score points), then the "
    "other figures, each the one whose interval sits furthest from zero (estimate over half the interval's width) "
    "first. Counts, totals and figures without an interval are never headlines; they stay in the table below."
)

#: Units of a finding that is a difference between groups (after money, these lead the headlines).
DIFFERENCE_UNITS = frozenset({"pp", "points", "points per day"})


def _is_money(unit: str) -> bool:
    """Whether a finding's unit is a currency code (``USD``, ``BRL``)."""
    return bool(re.fullmatch(r"[A-Z]{3}", unit or ""))


def headline_rows(rows: Sequence[dict[str, Any]], per_section: int = 2) -> list[dict[str, Any]]:
    """The findings :data:`HEADLINE_RULE` picks, up to ``per_section`` per section, in section order.

    Parameters
    ----------
    rows : sequence of dict
        ``findings`` rows.
    per_section : int
        Headlines kept per section.

    Returns
    -------
    list of dict
        The picked rows, ranked within each section by the rule.
    """
    def excludes_zero(r: dict[str, Any]) -> bool:
        lo, hi = r.get("ci_low"), r.get("ci_high")
        return lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi) and (lo > 0 or hi < 0)

    def rank(r: dict[str, Any]) -> tuple[int, float]:
        if _is_money(r["unit"]):
            return (0, -abs(r["estimate"]))
        half = (r["ci_high"] - r["ci_low"]) / 2
        return (1 if r["unit"] in DIFFERENCE_UNITS else 2, -abs(r["estimate"]) / half if half > 0 else -math.inf)

    picked: list[dict[str, Any]] = []
    for section in SECTION_LABELS:
        candidates = [r for r in rows if r["section"] == section and excludes_zero(r)]
        picked.extend(sorted(candidates, key=rank)[:per_section])
    return picked


def headlines(rows: Sequence[dict[str, Any]], per_section: int = 2) -> Markdown:
    """The headline findings of each section, picked by :data:`HEADLINE_RULE`, with the rule.

    Parameters
    ----------
    rows : sequence of dict
        ``findings`` rows.
    per_section : int
        Sentences kept per section.

    Returns
    -------
    Markdown
        The rule, then one heading per section with its sentences (escaped); a section
        without a finding that meets the rule says so; a note when nothing was recorded.
    """
    if not rows:
        return Markdown("*No findings recorded yet* (see the table below).")
    picked = headline_rows(rows, per_section)
    lines = [f"*How these were chosen:* {HEADLINE_RULE}", ""]
    for section, label in SECTION_LABELS.items():
        if not any(r["section"] == section for r in rows):
            continue
        lines.append(f"**{label}**\n")
        mine = [r["sentence"] for r in picked if r["section"] == section]
        lines.extend(f"- {escape_md(s)}" for s in mine)
        if not mine:
            lines.append("- No finding of this section has an interval that excludes zero; see the table below.")
        lines.append("")
    return Markdown("\n".join(lines))


def against_published(fitted: pd.DataFrame, published: Mapping[str, float]) -> pd.DataFrame:
    """Fitted model parameters next to published estimates of the same parameters.

    Parameters
    ----------
    fitted : DataFrame
        Columns ``parameter, estimate, ci_low, ci_high`` (e.g. ``BetaGeoFit.to_frame()``).
    published : mapping
        Parameter name -> the published estimate.

    Returns
    -------
    DataFrame
        ``parameter, fitted, ci_low, ci_high, published, published in CI`` for the
        parameters in both (``published in CI`` is ``"yes"`` or ``"no"``).
    """
    rows = fitted[fitted["parameter"].isin(list(published))]
    out = pd.DataFrame(
        {
            "parameter": rows["parameter"],
            "fitted": rows["estimate"],
            "ci_low": rows["ci_low"],
            "ci_high": rows["ci_high"],
            "published": [float(published[p]) for p in rows["parameter"]],
        }
    ).reset_index(drop=True)
    out["published in CI"] = ["yes" if lo <= v <= hi else "no" for lo, v, hi in zip(out["ci_low"], out["published"], out["ci_high"], strict=True)]
    return out


__all__ = [
    "HEADLINE_RULE", "SECTION_LABELS", "against_published", "finding", "from_customer_value", "from_effect", "from_test",
    "headline_rows", "headlines", "overview", "overview_frame",
]

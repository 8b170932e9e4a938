"""Panel summary: one value per metric over a panel's whole window.

A case study reports each metric once for the period its data cover. From the monthly
panel (:func:`outcomes.metrics.panel.build_panel`):

* metrics of kind ``mean`` (rates, means) are pooled exactly: the ``n``-weighted mean of
  the monthly values, i.e. the value over every unit of the window;
* metrics of kind ``other`` (medians, percentiles, ratios) cannot be pooled from monthly
  values: they are the ``n``-weighted average of the monthly values, so that a month with
  few tickets weighs little (``weighted monthly average``);
* counts and month-end stocks (kind ``sum``) are the plain average of the monthly values:
  tickets per month, average month-end backlog.

Months without a value (no data, suppressed) are left out.

Every figure states its population and window: the catalog's definition (which tickets a
month counts: opened in it, resolved in it, open at its end) and the months pooled. Counts
are whole numbers. A metric the data checks withhold (a field not recorded) is shown as
not reported, with the reason, never as a value; a metric they comment on (a likely change
of definition) carries the comment.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from outcomes.metrics import catalog
from outcomes.casestudy.findings import finding

SUMMARY_COLUMNS = ["metric", "name", "value", "unit", "how", "months", "n"]
#: Units counted in whole things (shown without decimals).
WHOLE_UNITS = ("count", "tickets")
_BETTER = {"higher_is_better": "higher", "lower_is_better": "lower", "balance": None}


def summarise(panel: pd.DataFrame, *, segment_dim: str = "all", segment: str = "all") -> pd.DataFrame:
    """One row per metric of the panel, summarised over its months.

    Parameters
    ----------
    panel : pandas.DataFrame
        Tidy panel (:func:`outcomes.metrics.panel.build_panel`).
    segment_dim, segment : str
        Which segment to summarise (default: the whole company).

    Returns
    -------
    pandas.DataFrame
        ``metric``, ``name``, ``value`` (rates as fractions), ``unit``, ``how`` (``pooled``,
        ``weighted monthly average`` or ``monthly average``), ``months`` with a value and ``n`` (units behind the
        values, summed over the months).
    """
    rows = panel[(panel["segment_dim"] == segment_dim) & (panel["segment"] == segment)]
    out = []
    for mid, part in rows.groupby("metric", sort=False):
        m = catalog.get(str(mid))
        part = part[part["value"].notna()]
        n = part["n"].fillna(0.0)
        if part.empty:
            value, how = np.nan, "no data"
        elif m.kind == "mean" and n.sum() > 0:
            value, how = float(np.average(part["value"], weights=n)), "pooled"
        elif m.kind == "other" and n.sum() > 0:
            value, how = float(np.average(part["value"], weights=n)), "weighted monthly average"
        else:
            value, how = float(part["value"].mean()), "monthly average"
        out.append((m.id, m.name, value, m.unit, how, len(part), int(n.sum())))
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


def value(summary: pd.DataFrame, metric: str) -> float:
    """The summarised value of ``metric`` (NaN when the summary has none)."""
    rows = summary.loc[summary["metric"] == metric, "value"]
    return float(rows.iloc[0]) if len(rows) else float("nan")


def unrecorded(summary: pd.DataFrame) -> dict[str, str]:
    """Rates that are exactly zero over the whole window: most likely not recorded, so not reported.

    Returns
    -------
    dict
        Metric id -> the reason in words (naming the units behind the zero).
    """
    out = {}
    for r in summary[summary["value"].notna()].itertuples(index=False):
        m = catalog.get(r.metric)
        if m.is_rate and r.value == 0 and r.n > 0:
            out[r.metric] = (
                f"{m.name} is 0 of {int(r.n):,} {m.n}: the export most likely does not record it, so it is not reported "
                "as a finding."
            )
    return out


def notes(summary: pd.DataFrame, *, withheld: Mapping[str, str] | None = None, caveats: Mapping[str, str] | None = None) -> str:
    """The notes under a :func:`formatted` table: why a metric is not reported, and comments on values."""
    withheld = {**unrecorded(summary), **dict(withheld or {})}
    names = dict(zip(summary["metric"], summary["name"]))
    lines = [f"- **{names[m]}, not reported.** {why}" for m, why in withheld.items() if m in names]
    shared: dict[str, list[str]] = {}
    for m, why in dict(caveats or {}).items():
        if m in names and m not in withheld:
            shared.setdefault(why, []).append(names[m])
    lines += [f"- **{', '.join(who)}.** {why}" for why, who in shared.items()]
    return "\n".join(lines)


def population(metric: str) -> str:
    """Which units a metric counts, from the catalog: its definition, e.g. "... over tickets resolved in the month"."""
    return catalog.get(metric).formula.rstrip(".")


def formatted(
    summary: pd.DataFrame,
    *,
    withheld: Mapping[str, str] | None = None,
    caveats: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The summary for a report table: the value with its unit (rates in %, counts whole), and what it counts.

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`summarise`.
    withheld : mapping, optional
        Metric id -> why it is not reported (e.g. the field is not recorded): shown as
        "not reported" in place of the value.
    caveats : mapping, optional
        Metric id -> a comment every reading of the value needs: flagged in the table.
    """
    withheld, caveats = {**unrecorded(summary), **dict(withheld or {})}, dict(caveats or {})

    def text(row: pd.Series) -> str:
        if row["metric"] in withheld:
            return "not reported (see note)"
        if pd.isna(row["value"]):
            return "no data"
        m = catalog.get(row["metric"])
        amount = _amount(100 * row["value"] if m.is_rate else row["value"], "%" if m.is_rate else row["unit"])
        return f"{amount} (see note)" if row["metric"] in caveats else amount

    out = summary.assign(
        value=summary.apply(text, axis=1),
        counted=summary["metric"].map(lambda m: catalog.get(m).n),
        months=summary["months"].map(lambda k: f"{int(k):,}"),
        n=summary["n"].map(lambda k: f"{int(k):,}"),
    )
    return out[["name", "value", "how", "counted", "months", "n"]].rename(
        columns={"name": "metric", "counted": "counted over", "n": "units behind it"}
    )


def findings(
    summary: pd.DataFrame,
    *,
    dataset: str,
    section: str,
    period: str,
    withheld: Mapping[str, str] | None = None,
    caveats: Mapping[str, str] | None = None,
) -> list[dict]:
    """Rows for the ``findings`` section of ``results.json`` (rates in %), one per metric with a value.

    Every sentence names the metric's population (the catalog's definition) and the window.

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`summarise`.
    dataset : str
        The dataset's folder name.
    section : str
        The case-study section (e.g. ``itsm``).
    period : str
        The window in words (e.g. ``2016-03 to 2017-02``), quoted in the sentences.
    withheld : mapping, optional
        Metric id -> why it is not reported: no row for it.
    caveats : mapping, optional
        Metric id -> a comment appended to its sentence.
    """

    withheld, caveats = {**unrecorded(summary), **dict(withheld or {})}, dict(caveats or {})
    rows = []
    for r in summary[summary["value"].notna()].itertuples(index=False):
        if r.metric in withheld:
            continue
        m = catalog.get(r.metric)
        value, unit = (100 * r.value, "%") if m.is_rate else (r.value, r.unit)
        what = {
            "pooled": "pooled over",
            "weighted monthly average": "the monthly values averaged, weighted by units, over",
        }.get(r.how, "per month, on average, over")
        note = f" Note: {caveats[r.metric]}" if r.metric in caveats else ""
        rows.append(
            finding(
                section=section, dataset=dataset, metric=r.metric, label=r.name, estimate=float(value), unit=unit,
                better=_BETTER[m.direction], n=int(r.n),
                sentence=(
                    f"{r.name}: {_amount(value, unit)}, {what} the {r.months} months {period}. Population: "
                    f"{_lower_first(population(r.metric))} ({int(r.n):,} {m.n} in all).{note}"
                ),
            )
        )
    return rows


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _amount(value: float, unit: str) -> str:
    """A figure with its unit: counts as whole numbers (without the word "count"), others with one decimal."""
    if unit == "count":
        return f"{value:,.0f}"
    if unit in WHOLE_UNITS:
        return f"{value:,.0f} {unit}"
    return f"{value:,.1f}%" if unit == "%" else f"{value:,.1f} {unit}"


__all__ = [
    "SUMMARY_COLUMNS", "WHOLE_UNITS", "findings", "formatted", "notes", "population", "summarise", "unrecorded", "value",
]

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
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from outcomes.metrics import catalog
from outcomes.casestudy.findings import finding

SUMMARY_COLUMNS = ["metric", "name", "value", "unit", "how", "months", "n"]
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


def formatted(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary for a report table: the value as text with its unit (rates in %)."""
    def text(row: pd.Series) -> str:
        if pd.isna(row["value"]):
            return "no data"
        if catalog.get(row["metric"]).is_rate:
            return f"{100 * row['value']:.1f} %"
        return f"{row['value']:,.1f} {row['unit']}"

    out = summary.assign(value=summary.apply(text, axis=1))
    return out[["name", "value", "how", "months", "n"]].rename(columns={"name": "metric", "n": "units behind it"})


def findings(summary: pd.DataFrame, *, dataset: str, section: str, period: str) -> list[dict]:
    """Rows for the ``findings`` section of ``results.json`` (rates in %), one per metric with a value.

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
    """

    rows = []
    for r in summary[summary["value"].notna()].itertuples(index=False):
        m = catalog.get(r.metric)
        value, unit = (100 * r.value, "%") if m.is_rate else (r.value, r.unit)
        what = {"pooled": "over all", "weighted monthly average": "(monthly values weighted by units) over"}.get(
            r.how, "per month, on average, over"
        )
        rows.append(
            finding(
                section=section, dataset=dataset, metric=r.metric, label=r.name, estimate=float(value), unit=unit,
                better=_BETTER[m.direction], n=int(r.n),
                sentence=f"{r.name}: {_amount(value, unit)} {what} {r.months} months ({period}).",
            )
        )
    return rows


def _amount(value: float, unit: str) -> str:
    """A figure with its unit for a sentence: counts as whole numbers without the word "count"."""
    if unit == "count":
        return f"{value:,.0f}"
    return f"{value:,.1f}%" if unit == "%" else f"{value:,.1f} {unit}"


__all__ = ["SUMMARY_COLUMNS", "findings", "formatted", "summarise"]

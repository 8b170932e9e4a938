"""Charts of the CLV models, as unrendered Altair charts.

Each builder takes a fit or a :class:`~outcomes.casestudy.clv.CLVResult` and returns an Altair chart;
nothing is displayed or saved here and no theme is set (the report's house theme styles
them). The charts show aggregates only: counts of customers and means per segment, never
a customer's row.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from outcomes.casestudy.clv import BetaGeoFit, CLVResult


def frequency_fit_frame(fit: BetaGeoFit, summary: pd.DataFrame, max_frequency: int = 7) -> pd.DataFrame:
    """Customers by number of repeat purchases: observed and expected under the fitted BG/NBD.

    Parameters
    ----------
    fit : BetaGeoFit
        The fitted model.
    summary : DataFrame
        The per-customer summary it was fitted on (``frequency``, ``T``).
    max_frequency : int
        The last bucket holds ``max_frequency`` or more repeat purchases.

    Returns
    -------
    DataFrame
        Columns ``repeat_purchases`` (text, ``"7+"`` for the last bucket), ``source``
        (``"observed"`` / ``"BG/NBD"``) and ``customers``; both sources sum to the number
        of customers.
    """
    x = summary["frequency"].to_numpy(dtype=int)
    big_t = summary["T"].to_numpy(dtype=float)
    labels = [str(k) for k in range(max_frequency)] + [f"{max_frequency}+"]
    observed = np.bincount(np.minimum(x, max_frequency), minlength=max_frequency + 1).astype(float)
    expected = np.array([fit.probability_of_purchases(k, big_t).sum() for k in range(max_frequency)])
    expected = np.append(expected, len(x) - expected.sum())
    return pd.DataFrame(
        {
            "repeat_purchases": labels * 2,
            "source": ["observed"] * len(labels) + ["BG/NBD"] * len(labels),
            "customers": np.concatenate([observed, expected]),
        }
    )


def frequency_fit(fit: BetaGeoFit, summary: pd.DataFrame, max_frequency: int = 7) -> alt.Chart:
    """Grouped bars of customers by repeat purchases, observed next to the model's expectation.

    The standard check of a BG/NBD fit (Fader, Hardie & Lee 2005, figure 2): the bars should
    match bucket by bucket.
    """
    data = frequency_fit_frame(fit, summary, max_frequency)
    order = list(dict.fromkeys(data["repeat_purchases"]))
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("repeat_purchases:N", sort=order, title=f"Repeat purchases in the calibration period ({fit.time_unit}s)"),
            xOffset=alt.XOffset("source:N"),
            y=alt.Y("customers:Q", title="Customers"),
            color=alt.Color("source:N", title=None),
            tooltip=["repeat_purchases:N", "source:N", alt.Tooltip("customers:Q", format=",.0f")],
        )
        .properties(title="Customers by repeat purchases: observed and BG/NBD")
    )


def clv_by_segment(result: CLVResult) -> alt.LayerChart:
    """Mean CLV per customer by segment, with the interval from the parameters' uncertainty.

    The whole population is shown when the result has no segments.
    """
    table = result.segments
    data = table if len(table) == 1 else table[table["segment"] != "all"]
    unit = f" ({result.currency})" if result.currency else ""
    # An explicit order: "-x" would sort each layer by its own x field, and Vega warns of the conflict.
    order = list(data.sort_values("clv_mean", ascending=False)["segment"])
    base = alt.Chart(data).encode(y=alt.Y("segment:N", title=None, sort=order))
    bars = base.mark_bar().encode(
        x=alt.X("clv_mean:Q", title=f"CLV per customer over {result.horizon_months} months{unit}"),
        tooltip=[
            "segment:N",
            alt.Tooltip("customers:Q", format=",.0f"),
            alt.Tooltip("clv_mean:Q", format=",.2f", title="CLV per customer"),
            alt.Tooltip("clv_mean_low:Q", format=",.2f", title="interval low"),
            alt.Tooltip("clv_mean_high:Q", format=",.2f", title="interval high"),
            alt.Tooltip("p_alive_mean:Q", format=".2f", title="mean P(active)"),
        ],
    )
    rules = base.mark_rule().encode(x="clv_mean_low:Q", x2="clv_mean_high:Q")
    return alt.layer(bars, rules).properties(title=f"Customer lifetime value by segment ({result.level:.0%} interval)")


def clv_distribution(result: CLVResult, bins: int = 30) -> alt.Chart:
    """Histogram of the per-customer CLV (counts per bin, computed here so only counts leave)."""
    values = result.customers["clv"].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    counts, edges = np.histogram(values, bins=bins)
    data = pd.DataFrame({"low": edges[:-1], "high": edges[1:], "customers": counts})
    unit = f" ({result.currency})" if result.currency else ""
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("low:Q", bin="binned", title=f"CLV over {result.horizon_months} months{unit}"),
            x2="high:Q",
            y=alt.Y("customers:Q", title="Customers"),
            tooltip=[alt.Tooltip("low:Q", format=",.2f"), alt.Tooltip("high:Q", format=",.2f"), "customers:Q"],
        )
        .properties(title="Distribution of customer lifetime value")
    )

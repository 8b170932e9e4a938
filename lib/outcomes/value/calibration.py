"""Calibration of the value model by simulation: portfolios whose true value is known.

:func:`generate` draws initiatives of a churn-reducing kind. Each one's IT effect is
measured by its own test (with a standard error); its link from the IT metric to churn
comes from an association across regions and months, whose slope is the causal slope
plus a confounding bias; a share of the initiatives (``direct``) also measured churn
itself in their test. The truth (effect, causal slope, customer value, costs) is drawn
first and every estimate from it, so each initiative's true NPV is known.

:func:`run` values every initiative twice with :func:`outcomes.value.montecarlo.simulate`:

* ``kit``: the kit's method: the association enters times its causal share (the default
  range, :data:`outcomes.value.model.DEFAULT_CAUSAL_SHARE`), and a direct measurement of
  churn is combined with the chain (:func:`outcomes.value.evidence.combine_outcome`);
* ``naive``: the same, but with the association taken as wholly causal (share fixed at 1),
  as values were computed before the evidence grades.

and reports how often each method's P10 to P90 contains the true NPV (80% if calibrated).
Run it with ``python -m outcomes.value.calibration`` (see ``--help``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import pandas as pd

from outcomes.value import montecarlo
from outcomes.value.model import (
    DEFAULT_CAUSAL_SHARE,
    Costs,
    Effect,
    Initiative,
    Inputs,
    Link,
    Population,
    Quantity,
    Segment,
    ShareRange,
    ValueModel,
)

#: The methods compared, and the causal share each gives an association.
METHODS: dict[str, ShareRange] = {"kit": DEFAULT_CAUSAL_SHARE, "naive": ShareRange(low=1.0, high=1.0)}
#: Customers of the one segment every generated initiative acts on.
CUSTOMERS = 10_000.0
#: Monthly churn of that segment.
CHURN = 0.02
#: Relative half-width of the stated ranges of customer value and initial cost.
SPREAD = 0.25
_KEY = "initiative"
_INPUTS = Inputs(
    cost_per_ticket=20, agent_hourly_rate=40, employee_hourly_rate=60, outage_revenue_per_minute=500,
    revenue_per_conversion=100, conversion_margin=0.3,
)


@dataclass(frozen=True)
class Portfolio:
    """Generated initiatives: the truth and what was measured, one row per initiative.

    Attributes
    ----------
    frame : pandas.DataFrame
        ``direct`` (its test also measured churn), the truth (``effect``, ``causal_slope``,
        ``bias``, ``clv``, ``initial_cost``), the stated centres (``clv_stated``,
        ``initial_stated``), the estimates with their standard errors (``effect_est``,
        ``effect_se``, ``slope_est``, ``slope_se``, ``churn_est``, ``churn_se``) and
        ``recurring_monthly``.
    seed : int
        Seed of the generator.
    """

    frame: pd.DataFrame
    seed: int


def generate(n: int, seed: int, direct_share: float = 0.5, confounding: float = 1.0) -> Portfolio:
    """Draw ``n`` initiatives with known true value (vectorized).

    Parameters
    ----------
    n : int
        Number of initiatives.
    seed : int
        Seed.
    direct_share : float
        Share of initiatives whose own test also measured churn.
    confounding : float
        Mean confounding bias as a multiple of the causal slope (0: the association is the cause).

    Returns
    -------
    Portfolio

    Notes
    -----
    Per initiative: true effect on first response ``U(-3, -0.5)`` hours, measured with a
    standard error of ``U(20%, 50%)`` of it; true causal slope ``U(0.0005, 0.0025)`` churn per
    hour; confounding bias ``c x slope`` with ``c = confounding x Exponential(1)``, mean 1 by default (the
    association is then on average twice the cause; the share of it that is cause, ``1 / (1 + c)``, is not drawn from
    the kit's range), the association estimated with a standard error of 30% of it; churn
    measured directly, where it was, with a standard error of ``U(50%, 100%)`` of the true
    change. Customer value and initial cost are stated as ``+/- 25%`` ranges around a centre
    and the truth is drawn from that range (triangular); the centre of customer value is
    ``U(500, 3000)``, the initial cost ``U(50k, 400k)`` and the running cost ``U(1k, 8k)``
    a month.
    """
    if n < 1:
        raise ValueError(f"generate: n must be at least 1, got {n}")
    rng = np.random.default_rng(seed)
    effect = rng.uniform(-3.0, -0.5, n)
    effect_se = np.abs(effect) * rng.uniform(0.2, 0.5, n)
    slope = rng.uniform(0.0005, 0.0025, n)
    bias = slope * confounding * rng.exponential(1.0, n)
    association = slope + bias
    slope_se = 0.3 * association
    churn = effect * slope
    churn_se = np.abs(churn) * rng.uniform(0.5, 1.0, n)
    clv_stated = rng.uniform(500.0, 3000.0, n)
    initial_stated = rng.uniform(50_000.0, 400_000.0, n)
    frame = pd.DataFrame({
        "direct": rng.uniform(size=n) < direct_share,
        "effect": effect,
        "causal_slope": slope,
        "bias": bias,
        "clv": rng.triangular(clv_stated * (1 - SPREAD), clv_stated, clv_stated * (1 + SPREAD)),
        "initial_cost": rng.triangular(initial_stated * (1 - SPREAD), initial_stated, initial_stated * (1 + SPREAD)),
        "clv_stated": clv_stated,
        "initial_stated": initial_stated,
        "recurring_monthly": rng.uniform(1_000.0, 8_000.0, n),
        "effect_est": effect + rng.normal(0.0, effect_se),
        "effect_se": effect_se,
        "slope_est": association + rng.normal(0.0, slope_se),
        "slope_se": slope_se,
        "churn_est": churn + rng.normal(0.0, churn_se),
        "churn_se": churn_se,
    })
    return Portfolio(frame, seed)


def _model(clv: Quantity, initial: Quantity, recurring: float, link: Link, effect: Effect) -> ValueModel:
    """A value model of one churn-reducing initiative on one segment."""
    ini = Initiative(
        name="Generated initiative", metric="first_response_mean_hours", effect=effect, links=(link,),
        money="churn_avoided", population=Population(description="customers", segments=("all",)),
        costs=Costs(initial=initial, recurring_monthly=Quantity(value=recurring)),
    )
    segment = Segment(customers=CUSTOMERS, arpu_monthly=1.0, gross_margin=1.0, churn_rate=CHURN, clv=clv)
    return ValueModel(inputs=_INPUTS, segments={"all": segment}, initiatives={_KEY: ini})


def true_npv(row: pd.Series) -> float:
    """The initiative's NPV at its true numbers (the kit's own cash flows, every number fixed)."""
    link = Link(to="churn_rate", per_unit=Quantity(value=row["causal_slope"]), source="experiment")
    model = _model(Quantity(value=row["clv"]), Quantity(value=row["initial_cost"]), row["recurring_monthly"], link,
                   Effect(value=row["effect"], source="experiment"))
    return float(montecarlo.simulate(model, _KEY, n=2, seed=0).npv[0])


def valued(row: pd.Series, method: str, n: int, seed: int) -> montecarlo.InvestmentCase:
    """The initiative valued from its estimates by ``method`` (``kit`` or ``naive``)."""
    stated = row["slope_est"]
    link = Link(to="churn_rate", per_unit=Quantity(value=stated), source="assumption", causal_share=METHODS[method])
    c, i0 = row["clv_stated"], row["initial_stated"]
    model = _model(
        Quantity(value=c, low=c * (1 - SPREAD), high=c * (1 + SPREAD)),
        Quantity(value=i0, low=i0 * (1 - SPREAD), high=i0 * (1 + SPREAD)),
        row["recurring_monthly"], link, Effect(value=row["effect_est"], se=row["effect_se"], source="experiment"),
    )
    direct = Effect(value=row["churn_est"], se=row["churn_se"], source="experiment") if row["direct"] else None
    return montecarlo.simulate(
        model, _KEY, link_slopes={"churn_rate": Quantity(value=stated, se=row["slope_se"], origin="drivers")},
        outcome_measured=direct, n=n, seed=seed,
    )


def run(portfolio: Portfolio, n: int = 2_000, seed: int = montecarlo.DEFAULT_SEED) -> pd.DataFrame:
    """Value every generated initiative by each method and check whether P10-P90 holds its true NPV.

    Parameters
    ----------
    portfolio : Portfolio
        From :func:`generate`.
    n : int
        Monte Carlo draws per case.
    seed : int
        Seed of the Monte Carlo.

    Returns
    -------
    pandas.DataFrame
        One row per initiative and method: ``direct``, ``method``, ``true_npv``,
        ``npv_p10``, ``npv_p50``, ``npv_p90``, ``covered``.
    """
    rows = []
    for _, row in portfolio.frame.iterrows():
        truth = true_npv(row)
        for method in METHODS:
            d = valued(row, method, n, seed).details()
            rows.append({
                "direct": bool(row["direct"]), "method": method, "true_npv": truth,
                "npv_p10": d["npv_p10"], "npv_p50": d["npv_p50"], "npv_p90": d["npv_p90"],
                "covered": d["npv_p10"] <= truth <= d["npv_p90"],
            })
    return pd.DataFrame(rows)


def coverage(valuations: pd.DataFrame) -> pd.DataFrame:
    """Share of initiatives whose P10-P90 holds the true NPV, by method: all, association only, with a direct test.

    Parameters
    ----------
    valuations : pandas.DataFrame
        From :func:`run`.

    Returns
    -------
    pandas.DataFrame
        Index ``method``; columns ``all``, ``association only``, ``direct test``, ``initiatives``;
        also ``truth below P10`` and ``truth above P90`` (all initiatives).
    """
    v = valuations
    out = pd.DataFrame({
        "all": v.groupby("method")["covered"].mean(),
        "association only": v[~v["direct"]].groupby("method")["covered"].mean(),
        "direct test": v[v["direct"]].groupby("method")["covered"].mean(),
        "truth below P10": (v["true_npv"] < v["npv_p10"]).groupby(v["method"]).mean(),
        "truth above P90": (v["true_npv"] > v["npv_p90"]).groupby(v["method"]).mean(),
        "initiatives": v.groupby("method").size(),
    })
    return out.loc[list(METHODS)]


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Print the coverage table as Markdown (``python -m outcomes.value.calibration``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--initiatives", type=int, default=1_000, help="initiatives generated (default 1000)")
    parser.add_argument("--seed", type=int, default=20261206, help="seed of the generator (default 20261206)")
    parser.add_argument("--draws", type=int, default=2_000, help="Monte Carlo draws per case (default 2000)")
    args = parser.parse_args(argv)
    table = coverage(run(generate(args.initiatives, args.seed), n=args.draws))
    print(markdown(table))
    return table


def markdown(table: pd.DataFrame) -> str:
    """The coverage table as a Markdown table (shares with three decimals)."""
    head = ["method", *table.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for method, row in table.iterrows():
        cells = [f"{v:.0f}" if name == "initiatives" else f"{v:.3f}" for name, v in row.items()]
        lines.append("| " + " | ".join([str(method), *cells]) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

"""Variance reduction on the demo company: CUPED with one covariate against several, and strata.

For the randomized self-service portal test in the demo warehouse, the per-customer unit
table (:func:`outcomes.experiment.aggregates.unit_table`) gives each metric and the same
counts over the equally long window before launch. Per headline mean metric the script prints
``1 - var(adjusted difference) / var(unadjusted difference)`` for

* CUPED on the metric's own pre-period value (what ``pre:`` does in an initiative file);
* :func:`outcomes.experiment.regression_adjusted` on several pre-period counts;
* :func:`outcomes.experiment.post_stratified` on the customer segment, a pre-period category.

These are measurements of one data set, printed and never asserted.

Run: ``.venv/bin/python benchmarks/variance_reduction.py [--warehouse data/warehouse.duckdb]``
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from outcomes.experiment import (
    CovariateSums,
    InitiativeSpec,
    StrataSums,
    post_stratified,
    regression_adjusted,
)
from outcomes.experiment.aggregates import analysis_window, unit_table
from outcomes.params import load
from outcomes.warehouse import store

SPEC = "params/initiatives/self-service-portal.yaml"
#: Headline mean metric -> its own pre-period column first, then other covariates
#: (``responded_tickets_pre`` equals ``tickets_pre`` in the demo, so it would add nothing).
COVARIATES = {
    "tickets": ["tickets_pre", "self_service_tickets_pre", "first_response_hours_pre", "orders_pre"],
    "revenue": ["revenue_pre", "orders_pre", "tickets_pre"],
    "orders": ["orders_pre", "revenue_pre", "tickets_pre"],
}


def _units(warehouse: str) -> tuple[pd.DataFrame, str]:
    spec = load(SPEC, InitiativeSpec)
    con = store.connect(warehouse)
    window = analysis_window(con, spec)
    frame = unit_table(con, spec, [window]).execute()
    frame.columns = [c.removesuffix("_w0") for c in frame.columns]
    return frame, spec.data.control


def _reductions(frame: pd.DataFrame, control: str, metric: str, covariates: list[str]) -> tuple[float, float, float]:
    frame = frame.assign(stratum=pd.Categorical(frame.segment.fillna("(none)")).codes)
    arms = [frame[frame.arm == control], frame[frame.arm != control]]

    def adjusted(columns: list[str]) -> float:
        sums = [CovariateSums.from_values(a[metric].to_numpy(), a[columns].to_numpy()) for a in arms]
        return float(regression_adjusted(*sums).comparison.variance_reduction)

    strata = [StrataSums.from_values(a[metric].to_numpy(), a.stratum.to_numpy(), frame.stratum.max() + 1) for a in arms]
    return adjusted(covariates[:1]), adjusted(covariates), float(post_stratified(*strata).comparison.variance_reduction)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", default="data/warehouse.duckdb")
    args = parser.parse_args()
    frame, control = _units(args.warehouse)
    print(f"self-service-portal: {len(frame):,} customers, {frame.arm.nunique()} arms")
    print(f"{'metric':<10} {'CUPED (own pre)':>16} {'several pre':>12} {'by segment':>11}  covariates")
    for metric, covariates in COVARIATES.items():
        one, several, strata = _reductions(frame, control, metric, covariates)
        print(f"{metric:<10} {one:>16.1%} {several:>12.1%} {strata:>11.1%}  {', '.join(covariates)}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()

"""Read-outs of a randomized test on a user's table: where the table is, levels per arm, CUPED.

These complete :mod:`outcomes.report.review` for a test analysed from a file:
:func:`spec_with_table` points a spec at another copy of its table (a committed excerpt or
the full file) without editing the YAML, :func:`arm_levels` shows each metric's level per
arm, and :func:`cuped_frame` states what the pre-period covariate bought.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from IPython.display import HTML

from outcomes.experiment.randomized.analysis import aggregate_table
from outcomes.experiment.results import InitiativeResult
from outcomes.report.review import load_spec
from outcomes.experiment.spec import InitiativeSpec
from outcomes.format import CURRENCIES
from outcomes.report.tables import table


def spec_with_table(initiative: str | Path | InitiativeSpec, raw_dir: str | Path | None = None) -> InitiativeSpec:
    """Load an initiative's spec, reading its ``data.table`` from another folder.

    Parameters
    ----------
    initiative : str, Path or InitiativeSpec
        A params file or an initiative id (see :func:`outcomes.report.review.load_spec`).
    raw_dir : str or Path, optional
        Folder holding a file of the same name as ``data.table`` (relative paths from the
        project root); ``None`` keeps the spec's path.

    Returns
    -------
    InitiativeSpec
        The spec, with ``data.table`` = ``raw_dir / <table's file name>``.

    Raises
    ------
    ParamsError
        For an invalid spec; a ``ValueError`` when it names no table.
    """
    spec = load_spec(initiative)
    if raw_dir is None:
        return spec
    if not spec.data.table:
        raise ValueError(f"initiative {spec.id!r} has no data.table, so raw_dir={raw_dir!r} has nothing to point at")
    table_path = (Path(raw_dir) / Path(spec.data.table).name).as_posix()
    return spec.model_copy(update={"data": spec.data.model_copy(update={"table": table_path})})


def arm_levels_frame(df: pd.DataFrame, spec: InitiativeSpec) -> pd.DataFrame:
    """Units and each metric's level per arm (the control first), from the sufficient statistics.

    Parameters
    ----------
    df : DataFrame
        The unit-level table.
    spec : InitiativeSpec
        The initiative (arm column, control, metrics).

    Returns
    -------
    DataFrame
        One row per arm: ``arm``, ``units`` and one column per metric label (the mean; a
        rate for proportions; ``sum(numerator) / sum(denominator)`` for ratios).
    """
    agg = aggregate_table(df, spec)
    agg = agg[agg["segment"] == "all"]
    counts = df[spec.data.arm].dropna().astype(str).value_counts()
    arms = [str(spec.data.control), *sorted(a for a in counts.index if a != str(spec.data.control))]
    out = pd.DataFrame({"arm": arms, "units": [int(counts.get(a, 0)) for a in arms]})
    for m in spec.metrics:
        rows = agg[agg["metric"] == m.id].set_index("arm")
        den = rows["den_sum"] if m.kind == "ratio" else rows["n"]
        out[m.label or m.id] = [float(rows["sum"].get(a, float("nan")) / den.get(a, float("nan"))) for a in arms]
    return out


def arm_levels(df: pd.DataFrame, spec: InitiativeSpec) -> HTML:
    """:func:`arm_levels_frame` as a report table (rates in %, money in its unit per unit, to the cent)."""
    def shown(unit: str) -> str:
        return f"{unit} per unit" if unit in CURRENCIES else unit

    units = {"units": "count", **{m.label or m.id: shown(m.display_unit) for m in spec.metrics if m.display_unit}}
    return table(arm_levels_frame(df, spec), units, digits=2)


def cuped_frame(result: InitiativeResult) -> pd.DataFrame:
    """What CUPED did to each primary comparison: the method and the share of variance removed.

    Parameters
    ----------
    result : InitiativeResult
        An analysed randomized test.

    Returns
    -------
    DataFrame
        One row per treatment arm of the primary metric: ``arm``, ``estimate``,
        ``ci_low``, ``ci_high``, ``method`` and ``variance_reduction`` (a fraction; NaN
        when CUPED was not applied).
    """
    primary = [e for e in result.effects if e.role == "primary" and e.segment == "all"]
    return pd.DataFrame(
        [
            {
                "arm": e.arm, "estimate": e.estimate_abs, "ci_low": e.ci_low, "ci_high": e.ci_high,
                "method": e.method, "variance_reduction": e.variance_reduction,
            }
            for e in primary
        ],
        columns=["arm", "estimate", "ci_low", "ci_high", "method", "variance_reduction"],
    )


__all__ = ["arm_levels", "arm_levels_frame", "cuped_frame", "spec_with_table"]

"""Analyse a whole randomized initiative: arms x metrics (x segments), checks and decision.

Two entry points share one engine:

* :func:`analyze_table` takes a unit-level table a user brought (one row per unit) and an
  :class:`~outcomes.experiment.spec.InitiativeSpec`; it computes the sufficient statistics
  with :func:`aggregate_table` and hands them on.
* :func:`analyze_aggregates` takes the sufficient statistics themselves (one row per
  metric x arm x segment, columns :data:`~outcomes.experiment.statistics.AGGREGATE_COLUMNS`),
  as a warehouse ``GROUP BY`` returns them.

Every arm is compared with the control. All cells are computed at once with numpy, the
anytime-valid interval and non-inferiority tests are added, p-values are adjusted within
their families, and :func:`~outcomes.experiment.decision.decide` gives the decision.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from outcomes import format as fmt
from outcomes import config
from outcomes.errors import ParamsError
from outcomes.experiment.decision import combine, decide, from_conditions
from outcomes.experiment.randomized.frequentist import RATIO_CUPED_SUMS, compare, cuped_moments, noninferiority_p, ratio_cuped_moments
from outcomes.experiment.randomized.cells import ComparisonCells, pair_cells
from outcomes.experiment.randomized.cluster import (
    FEW_CLUSTERS,
    FEW_CLUSTERS_PER_ARM,
    ClusterDesign,
    arm_summaries,
    cluster_sums,
    cr1_factor,
    icc_anova,
)
from outcomes.experiment.randomized.adjust import adjusted_cells
from outcomes.experiment.randomized.multiplicity import adjust_groups
from outcomes.experiment.randomized.power import Plan, minimum_detectable_effect, plan
from outcomes.experiment.results import (
    CUPED_NOT_APPLIED,
    EMPTY_ARM,
    MISSING_VALUES,
    SEGMENT_CAVEAT,
    TOO_FEW_UNITS,
    ZERO_CONTROL_MEAN,
    ZERO_VARIANCE,
    Condition,
    Decision,
    InitiativeResult,
    MetricEffect,
    SegmentSplit,
)
from outcomes.experiment.randomized.cluster_quantile import cluster_quantile_variance, quantile_cluster_sums
from outcomes.experiment.randomized.quantile import quantile_moments, quantile_table
from outcomes.experiment.randomized.sequential import DEFAULT_TUNING, confidence_sequence
from outcomes.experiment.spec import InitiativeSpec, MetricSpec
from outcomes.experiment.randomized.srm import segment_splits, srm_test
from outcomes.experiment.statistics import (
    AGGREGATE_COLUMNS,
    QUANTILE_COLUMNS,
    Moments,
    mean_moments,
    proportion_moments,
    adjust_columns,
    covariate_terms,
    ratio_moments,
    strata_columns,
    unit_sums,
)

#: A unit found in more than one arm: the assignment leaked.
UNIT_IN_SEVERAL_ARMS = "unit_in_several_arms"
#: A cluster (``data.cluster``) found in more than one arm: the change was not given by cluster.
CLUSTER_IN_SEVERAL_ARMS = "cluster_in_several_arms"

_MOMENT_FIELDS = ("n", "mean", "variance", "est", "est_variance", "est_mean_cov")
#: Estimator names by metric kind (``welch`` for means and proportions).
_METHODS = {"ratio": "welch-delta", "quantile": "quantile-order-statistics"}
#: The same for cluster-randomized initiatives (``cluster-robust`` for means and proportions).
_CLUSTER_METHODS = {"ratio": "cluster-robust-delta", "quantile": "cluster-robust-quantile"}
_CORRECTION_NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "no correction"}


def _require_columns(df: pd.DataFrame, spec: InitiativeSpec) -> None:
    """Raise when a column named in the spec is not in the table."""
    wanted: list[tuple[str, str]] = [("data.arm", spec.data.arm or "")]
    if spec.data.unit is not None:
        wanted.insert(0, ("data.unit", spec.data.unit))
    wanted += [(f"data.segments[{i}]", c) for i, c in enumerate(spec.data.segments)]
    if spec.data.cluster is not None:
        wanted.append(("data.cluster", spec.data.cluster))
    for i, m in enumerate(spec.metrics):
        for key in ("column", "numerator", "denominator", "pre", "pre_denominator"):
            value = getattr(m, key)
            if value and not (key == "column" and m.kind == "ratio"):
                wanted.append((f"metrics[{i}].{key}", value))
        if m.adjust is not None:
            wanted += [(f"metrics[{i}].adjust.covariates[{j}]", c) for j, c in enumerate(m.adjust.covariates)]
            if m.adjust.strata:
                wanted.append((f"metrics[{i}].adjust.strata", m.adjust.strata))
    missing = [(key, col) for key, col in wanted if col not in df.columns]
    if missing:
        listed = "; ".join(f"{key} = {col!r}" for key, col in missing)
        raise ParamsError(
            f"initiative {spec.id!r}: column(s) not in the table: {listed}. "
            f"Columns in the table: {list(map(str, df.columns))}. Fix the names in the spec or the table."
        )


def _numeric(df: pd.DataFrame, column: str, metric: MetricSpec, spec: InitiativeSpec) -> pd.Series:
    """Return ``column`` as floats, raising on text and (for proportions) on values other than 0/1."""
    s = df[column]
    if pd.api.types.is_bool_dtype(s):
        s = s.astype(float)
    if not pd.api.types.is_numeric_dtype(s):
        bad = s[pd.to_numeric(s, errors="coerce").isna() & s.notna()]
        row = bad.index[0] if len(bad) else None
        raise ParamsError(
            f"initiative {spec.id!r}: column {column!r} (metric {metric.id!r}) must be numeric; "
            f"row {row} holds {bad.iloc[0]!r}. Convert it to numbers (0/1 for proportions)."
        )
    s = s.astype(float)
    if metric.kind == "proportion" and column != metric.pre:
        bad = s[s.notna() & ~s.isin([0.0, 1.0])]
        if len(bad):
            raise ParamsError(
                f"initiative {spec.id!r}: proportion column {column!r} must hold 0/1 (or true/false); "
                f"row {bad.index[0]} holds {bad.iloc[0]!r}. Use kind 'mean' for other values."
            )
    return s


def aggregate_table(df: pd.DataFrame, spec: InitiativeSpec, by_cluster: bool = False) -> pd.DataFrame:
    """Sufficient statistics per metric x arm x segment (x cluster) from a unit-level table.

    Parameters
    ----------
    df : DataFrame
        One row per unit, with the columns named in ``spec``.
    spec : InitiativeSpec
        The initiative.
    by_cluster : bool
        Sum per cluster of ``spec.data.cluster`` as well (a ``cluster`` column; quantile
        metrics give units and units at or below their arm's quantile, see
        :mod:`~outcomes.experiment.randomized.cluster_quantile`), for :func:`analyze_aggregates`' ``clusters``.

    Returns
    -------
    DataFrame
        Columns ``metric, arm, segment`` and :data:`AGGREGATE_COLUMNS`; ``segment`` is
        ``"all"`` for the whole population and ``"<column>=<value>"`` for breakdowns.
        Units with a missing value of a metric are left out of that metric.

    Raises
    ------
    ParamsError
        When a named column is missing or not numeric.
    """
    _require_columns(df, spec)
    arm = df[spec.data.arm].astype("string")
    frames = []
    for m in spec.metrics:
        values = _numeric(df, m.numerator if m.kind == "ratio" else m.column or m.metric, m, spec)
        if m.kind == "quantile":
            frames.append(_quantile_aggregates(df, values, arm, spec, m, by_cluster))
            continue
        den = _numeric(df, m.denominator, m, spec) if m.kind == "ratio" else None
        pre = _numeric(df, m.pre, m, spec) if m.pre else None
        pre_den = _numeric(df, m.pre_denominator, m, spec) if m.pre_denominator else None
        terms = unit_sums(values, m.kind, denominator=den, pre=pre, pre_denominator=pre_den)
        if m.adjust is not None and m.adjust.covariates:
            xs = {c: _numeric(df, c, m, spec).loc[terms.index] for c in m.adjust.covariates}
            terms = pd.concat([terms, pd.DataFrame(covariate_terms(terms["sum"], xs))], axis=1).dropna()
        terms = terms[arm.loc[terms.index].notna()]
        terms["arm"] = arm.loc[terms.index].astype(str)
        labelled = [terms.assign(segment="all")] + [
            terms.assign(segment=col + "=" + df.loc[terms.index, col].astype("string").fillna("(missing)"))
            for col in spec.data.segments
        ]
        if by_cluster:
            parts = [cluster_sums(t, df[spec.data.cluster], ["arm", "segment"]) for t in labelled]
        else:
            parts = [t.groupby(["arm", "segment"], sort=False).sum().reset_index() for t in labelled]
        if m.adjust is not None and m.adjust.strata and not by_cluster:
            parts = [_with_strata(part, t, df[m.adjust.strata]) for part, t in zip(parts, labelled, strict=True)]
        frames.append(pd.concat(parts, ignore_index=True).assign(metric=m.id))
    out = pd.concat(frames, ignore_index=True)
    for col in AGGREGATE_COLUMNS:
        if col not in out:
            out[col] = np.nan
    keys = ["metric", "arm", "segment", *(["cluster"] if by_cluster else [])]
    return out[[*keys, *AGGREGATE_COLUMNS, *adjust_columns(out)]]


def _with_strata(part: pd.DataFrame, terms: pd.DataFrame, stratum: pd.Series) -> pd.DataFrame:
    """``part`` (sums per arm x segment) with the per-stratum sums of ``terms`` beside them."""
    cut = terms[["arm", "segment", "n", "sum", "sum_squares"]].assign(_stratum=stratum.loc[terms.index])
    groups = cut.groupby(["arm", "segment", "_stratum"], dropna=False).sum().reset_index()
    sums = {"n": "n", "sum": "sum", "sum_squares": "sum_squares"}
    spread = strata_columns(groups, ["arm", "segment"], "_stratum", sums, label=str(stratum.name))
    return part.merge(spread, on=["arm", "segment"], how="left")


def _quantile_aggregates(
    df: pd.DataFrame, values: pd.Series, arm: pd.Series, spec: InitiativeSpec, m: MetricSpec, by_cluster: bool = False
) -> pd.DataFrame:
    """Order statistics of a quantile metric per arm and per arm x segment (units with a value and an arm).

    With ``by_cluster``, per cluster as well: units and units at or below the group's quantile.
    """
    keep = values.notna() & arm.notna()
    v, a = values[keep], arm[keep].astype(str).rename("arm")

    def table(keys: list[pd.Series]) -> pd.DataFrame:
        if by_cluster:
            return quantile_cluster_sums(v, keys, df[spec.data.cluster], float(m.quantile))
        return quantile_table(v, keys, m.quantile)

    parts = [table([a]).assign(segment="all")]
    for col in spec.data.segments:
        labels = (col + "=" + df.loc[v.index, col].astype("string").fillna("(missing)")).rename("segment")
        parts.append(table([a, labels]))
    return pd.concat(parts, ignore_index=True).assign(metric=m.id)


def _moments_for(
    kind: str, cuped: bool, c: Mapping[str, np.ndarray], t: Mapping[str, np.ndarray], probability: np.ndarray
) -> tuple[Moments, Moments, np.ndarray]:
    """Moments of control and treatment cells of one kind (CUPED when asked and possible).

    ``c`` and ``t`` hold the two arms' sums of these cells by column; ``probability`` is the
    quantile's probability per cell (used by quantile metrics only).
    """
    def cols(sums: Mapping[str, np.ndarray], names: Iterable[str]) -> tuple[np.ndarray, ...]:
        return tuple(sums[n] for n in names)

    if kind == "quantile":
        names = ("n", *QUANTILE_COLUMNS)
        nan = np.full(probability.size, np.nan)
        return quantile_moments(*cols(c, names), probability), quantile_moments(*cols(t, names), probability), nan

    if cuped and kind == "ratio":
        mc, mt, _, reduction = ratio_cuped_moments(cols(c, RATIO_CUPED_SUMS), cols(t, RATIO_CUPED_SUMS))
        return mc, mt, reduction
    if cuped:
        names = ("n", "sum", "sum_squares", "pre_sum", "pre_sum_squares", "sum_post_pre")
        mc, mt, _, reduction = cuped_moments(cols(c, names), cols(t, names))
        return mc, mt, reduction
    nan = np.full(probability.size, np.nan)
    if kind == "ratio":
        names = ("n", "sum", "sum_squares", "den_sum", "den_sum_squares", "sum_products")
        return ratio_moments(*cols(c, names)), ratio_moments(*cols(t, names)), nan
    if kind == "proportion":
        return proportion_moments(*cols(c, ("n", "sum"))), proportion_moments(*cols(t, ("n", "sum"))), nan
    names = ("n", "sum", "sum_squares")
    return mean_moments(*cols(c, names)), mean_moments(*cols(t, names)), nan


def _cell_conditions(
    metric: MetricSpec, arm: str, control: str, n_c: float, n_t: float, se: float, base: float,
    cuped_asked: bool, reduction: float, min_units: int,
) -> tuple[Condition, ...]:
    """Data conditions of one comparison cell, as plain sentences."""
    name = metric.label or metric.id.replace("_", " ")
    keep = "keep testing"
    out = []
    empty = [a for a, n in ((control, n_c), (arm, n_t)) if n == 0]
    if empty:
        which = " and ".join(map(repr, empty)) + (" arms have" if len(empty) == 2 else " arm has")
        text = f"The {which} no units with {name} data yet, so there is nothing to compare"
        out.append(Condition(EMPTY_ARM, text, keep))
    elif min(n_c, n_t) < min_units:
        smaller = int(min(n_c, n_t))
        text = (
            f"{name} has only {smaller:,} units in the smaller arm "
            f"(at least {min_units} are needed for a reliable interval)"
        )
        out.append(Condition(TOO_FEW_UNITS, text, keep))
    elif not (math.isfinite(se) and se > 0):
        text = f"{name} does not vary within the arms, so no interval can be computed"
        out.append(Condition(ZERO_VARIANCE, text, keep))
    if n_c > 0 and base == 0:
        text = f"The control level of {name} is zero, so the relative effect is undefined"
        out.append(Condition(ZERO_CONTROL_MEAN, text))
    if cuped_asked and not math.isfinite(reduction) and not empty and metric.adjust is not None:
        text = (
            f"The adjustment of {name} for {' and '.join(metric.adjust.names)} was not applied: the sums it needs "
            "are missing, the covariates are constant, or a stratum has fewer than 2 units in an arm"
        )
        out.append(Condition(CUPED_NOT_APPLIED, text))
    elif cuped_asked and not math.isfinite(reduction) and not empty:
        text = f"CUPED was not applied to {name}: the pre-period values are missing or constant"
        out.append(Condition(CUPED_NOT_APPLIED, text))
    return tuple(out)


def _arm_order(agg: pd.DataFrame, spec: InitiativeSpec, units: Mapping[str, int]) -> list[str]:
    """Control first, then arms in order of appearance (data, planned split, units)."""
    seen = [spec.data.control, *agg["arm"].unique().tolist(), *(spec.planned_split or {}), *units]
    return list(dict.fromkeys(str(a) for a in seen))


def analyze_aggregates(
    agg: pd.DataFrame,
    spec: InitiativeSpec,
    units: Mapping[str, int] | None = None,
    conditions: Iterable[Condition] = (),
    clusters: pd.DataFrame | None = None,
) -> InitiativeResult:
    """Analyse a randomized initiative from sufficient statistics.

    Parameters
    ----------
    agg : DataFrame
        One row per metric x arm (x segment): columns ``metric, arm``, optional
        ``segment`` (``"all"`` when absent) and the sums in :data:`AGGREGATE_COLUMNS`
        the metric kinds need (``pre_*`` columns switch CUPED on; quantile metrics carry
        the order statistics ``quantile, quantile_low, quantile_high`` instead of sums).
    spec : InitiativeSpec
        The initiative (metrics, control, alpha, correction, planned split...).
    units : mapping, optional
        Units per arm for the SRM check; by default the largest ``n`` per arm over the
        whole-population rows.
    conditions : iterable of Condition
        Extra initiative-level conditions found upstream (e.g. missing values).
    clusters : DataFrame, optional
        For a cluster-randomized initiative (``data.cluster``): the same sums per
        cluster, columns ``metric, arm, segment, cluster, n, sum, sum_squares`` (and
        ``den_sum`` for ratios; for quantile metrics ``sum`` counts the units at or below
        the arm's quantile). Every metric is then compared with cluster-robust (CR2 or
        CR1) standard errors and a t with clusters - 2 degrees of freedom, without CUPED
        (see :mod:`outcomes.experiment.randomized.cluster` and
        :mod:`~outcomes.experiment.randomized.cluster_quantile`), and the sample-ratio
        check compares the clusters per arm (the units of randomization) with the planned split.

    Returns
    -------
    InitiativeResult
        Effects (whole population and segments), SRM (whole population and per segment),
        conditions, notes and the decision.

    Raises
    ------
    ParamsError
        When a metric of the spec has no rows, or the planned split names other arms.
    """
    control = str(spec.data.control)
    agg = agg.assign(arm=agg["arm"].astype(str))  # a new frame: the caller's is left as it is
    if "segment" not in agg:
        agg["segment"] = "all"
    if "n" not in agg:
        agg["n"] = np.nan  # the other sums, when absent, are read as NaN by pair_cells
    by_id = {m.id: m for m in spec.metrics}
    present = set(agg["metric"].unique().tolist())
    absent = [m for m in by_id if m not in present]
    if absent:
        raise ParamsError(
            f"initiative {spec.id!r}: the aggregates have no rows for metric(s) {absent}; "
            f"metrics present: {sorted(present)}"
        )
    known = agg["metric"].isin(by_id)
    if not known.all():
        agg = agg[known]
    if units is None:
        whole = agg[agg["segment"] == "all"]
        units = whole.groupby("arm")["n"].max().astype(int).to_dict()
    arms = _arm_order(agg, spec, units)
    counts = {a: int(units.get(a, 0)) for a in arms}

    init_conditions = list(conditions)
    design, summaries = None, None
    if clusters is not None:
        kinds = {m: by_id[m].kind for m in by_id}
        summaries = arm_summaries(clusters.assign(arm=clusters["arm"].astype(str)), kinds, spec.data.cluster_se)
        design = _cluster_design(clusters, summaries, spec)
    empty = [a for a, n in counts.items() if n == 0]
    for a in empty:
        text = f"The {a!r} arm has no units yet, so there is nothing to compare"
        init_conditions.append(Condition(EMPTY_ARM, text, "keep testing"))
    srm_p, srm_flag = np.nan, False
    if not empty:
        # the planned split is one of clusters when whole clusters got an arm: their units need not split alike
        randomized = counts if design is None else {a: design.clusters.get(a, 0) for a in counts}
        try:
            srm_p, srm_flag, srm_condition = srm_test(randomized, spec.planned_split, spec.srm_threshold)
        except ValueError as exc:
            raise ParamsError(f"initiative {spec.id!r}: {exc}") from None
        if srm_condition is not None:
            init_conditions.append(srm_condition)

    cells = pair_cells(agg, control, list(by_id), arms)

    if design is not None:
        few = {a: n for a, n in design.clusters.items() if n < FEW_CLUSTERS_PER_ARM}
        if few:
            listed = ", ".join(f"{n} in {a!r}" for a, n in few.items())
            init_conditions.append(
                Condition(
                    FEW_CLUSTERS,
                    f"Few clusters of {design.column} ({listed}; fewer than {FEW_CLUSTERS_PER_ARM} per arm): the "
                    f"interval uses a t with {sum(design.clusters.values()) - 2} degrees of freedom (clusters - 2), "
                    "so it is wide; more clusters, not more units per cluster, narrow it",
                )
            )
    effects = _effects(cells, spec, by_id, summaries)
    whole_fx = tuple(e for e in effects if e.segment == "all")
    segment_fx = tuple(e for e in effects if e.segment != "all")
    if segment_fx:
        init_conditions.append(
            Condition(
                SEGMENT_CAVEAT,
                f"The segment breakdown makes {len(segment_fx)} comparisons; p-values are adjusted "
                f"({_CORRECTION_NAMES[spec.correction]}) within each metric and arm, yet with this many looks some "
                "segment differences appear by chance. Treat them as ideas for a new test, not as grounds to ship; "
                "segments do not enter the decision.",
            )
        )
    splits: tuple[SegmentSplit, ...] = ()
    sliced = (agg["segment"] != "all").to_numpy(dtype=bool)
    if sliced.any() and not empty:
        units_by_segment = agg.loc[sliced, ["segment", "arm", "n"]]
        splits, split_condition = segment_splits(units_by_segment, arms, spec.planned_split, spec.srm_threshold)
        if split_condition is not None:
            init_conditions.append(split_condition)
    decision = _decide(whole_fx, spec, init_conditions, arms)
    return InitiativeResult(
        id=spec.id,
        design="randomized",
        effects=whole_fx,
        decision=decision,
        srm_p_value=float(srm_p),
        srm_flag=bool(srm_flag),
        conditions=tuple(init_conditions),
        segment_effects=segment_fx,
        name=spec.name,
        alpha=spec.alpha,
        arm_sizes=counts,
        notes=_notes(spec, whole_fx, counts, design),
        segment_splits=splits,
    )


def _cluster_design(clusters: pd.DataFrame, summaries: pd.DataFrame, spec: InitiativeSpec) -> ClusterDesign:
    """Clusters per arm and the primary metric's intra-cluster correlation (whole population)."""
    primary = clusters[(clusters["metric"] == spec.primary.id) & (clusters["segment"] == "all")]
    whole = summaries[(summaries["metric"] == spec.primary.id) & (summaries["segment"] == "all")]
    icc, size = float("nan"), float("nan")
    if spec.primary.kind in ("mean", "proportion", "quantile") and len(primary):
        ss = primary["sum_squares"] if "sum_squares" in primary else primary["sum"]
        icc, _ = icc_anova(primary["n"], primary["sum"], ss.fillna(primary["sum"]), primary["arm"].astype(str))
    if len(whole):
        size = float(whole["units"].sum() / whole["clusters"].sum())
    counts = dict(zip(whole["arm"], whole["clusters"].astype(int)))
    measure = (
        f"the primary metric (a unit at or below its arm's P{round(100 * spec.primary.quantile, 1):g})"
        if spec.primary.kind == "quantile" else "the primary metric"
    )
    return ClusterDesign(spec.data.cluster or "cluster", counts, icc, size, spec.data.cluster_se, measure)


def _cluster_moments(
    cells: ComparisonCells, summaries: pd.DataFrame, spec: InitiativeSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per cell: which cells are clustered, the cluster-robust variances of the two arms' estimates, clusters - 2.

    For quantile metrics the variances are those of the share of units at or below the arm's quantile.
    """
    keys = ["metric", "arm", "segment"]
    t = cells.keys_frame().merge(summaries, on=keys, how="left")
    c = cells.keys_frame().assign(arm=str(spec.data.control)).merge(summaries, on=keys, how="left")
    g = (t["clusters"] + c["clusters"]).to_numpy(dtype=float)
    factor = cr1_factor(g, (t["units"] + c["units"]).to_numpy(dtype=float)) if spec.data.cluster_se == "CR1" else 1.0
    v_c, v_t = c["cr_variance"].to_numpy(dtype=float) * factor, t["cr_variance"].to_numpy(dtype=float) * factor
    # a cell with per-cluster sums is clustered even when its variance is undefined (one cluster in an arm)
    clustered = np.isfinite(g)
    return clustered, v_c, v_t, np.where(clustered, g - 2, np.nan)


def _effects(
    cells: ComparisonCells, spec: InitiativeSpec, by_id: Mapping[str, MetricSpec], summaries: pd.DataFrame | None = None
) -> tuple[MetricEffect, ...]:
    """Compute every cell at once, column by column, and build the :class:`MetricEffect` rows in one pass."""
    n = len(cells)
    if n == 0:
        return ()
    metrics = list(by_id.values())
    which = cells.metric_index

    def per_cell(values: Iterable[object], dtype: type = object) -> np.ndarray:
        """A per-metric value spread to every cell of the metric."""
        return np.array(list(values), dtype=dtype)[which]

    kinds = per_cell((m.kind for m in metrics), str)
    clustered, df_given = np.zeros(n, dtype=bool), None
    if summaries is not None:
        clustered, v_c, v_t, df_given = _cluster_moments(cells, summaries, spec)
    has_pre = {
        arm: ~np.isnan(sums["pre_sum"]) & ((kinds != "ratio") | ~np.isnan(sums["pre_den_sum"]))
        for arm, sums in (("c", cells.control), ("t", cells.treatment))
    }
    adjusting = per_cell((m.adjust is not None for m in metrics), bool)
    cuped_asked = (per_cell((m.pre is not None for m in metrics), bool) | has_pre["t"] | adjusting) & ~clustered
    cuped = cuped_asked & has_pre["t"] & has_pre["c"]
    mc = {f: np.full(n, np.nan) for f in _MOMENT_FIELDS}
    mt = {f: np.full(n, np.nan) for f in _MOMENT_FIELDS}
    reduction = np.full(n, np.nan)
    probability = per_cell((m.quantile if m.quantile is not None else np.nan for m in metrics), float)
    for kind in ("mean", "proportion", "ratio", "quantile"):
        for adj in (False, True):
            mask = (kinds == kind) & (cuped == adj)
            if not mask.any():
                continue
            c_sums = {k: v[mask] for k, v in cells.control.items()}
            t_sums = {k: v[mask] for k, v in cells.treatment.items()}
            a, b, red = _moments_for(kind, adj, c_sums, t_sums, probability[mask])
            for f in _MOMENT_FIELDS:
                mc[f][mask], mt[f][mask] = getattr(a, f), getattr(b, f)
            reduction[mask] = red
    if adjusting.any():
        c_frame, t_frame = pd.DataFrame(cells.control), pd.DataFrame(cells.treatment)
    for m in by_id.values():
        mask = (cells.metric == m.id) & ~clustered
        found = adjusted_cells(m.adjust, c_frame[mask], t_frame[mask]) if m.adjust is not None and mask.any() else None
        if found is None:
            continue
        a, b, red = found
        # cells the adjustment could not serve (a stratum with too few units) stay unadjusted
        use = np.zeros(n, dtype=bool)
        use[mask] = np.isfinite(red)
        for f in _MOMENT_FIELDS:
            mc[f][use], mt[f][use] = getattr(a, f)[use[mask]], getattr(b, f)[use[mask]]
        reduction[use] = red[use[mask]]
    if clustered.any():
        quantile = clustered & (kinds == "quantile")
        for moments, var in ((mc, v_c), (mt, v_t)):
            # a quantile's cluster-robust variance is that of the share below it, divided by the density squared
            var = np.where(quantile, cluster_quantile_variance(var, moments["variance"], probability), var)
            # per-unit variance whose ratio to n is the cluster-robust variance of the arm's estimate
            per_unit = np.where(clustered, var * moments["n"], moments["variance"])
            for f in ("variance", "est_variance", "est_mean_cov"):
                moments[f] = per_unit
    comp = compare(Moments(**mc), Moments(**mt), spec.alpha, reduction, df_given)

    tuning = spec.expected_n or DEFAULT_TUNING
    n_total = comp.n_control + comp.n_treatment
    seq_lo, seq_hi = confidence_sequence(comp.estimate_abs, comp.se_abs, n_total, spec.alpha, tuning)
    margin = per_cell((m.margin if m.margin is not None else np.nan for m in metrics), float)
    rel = per_cell((m.margin_relative for m in metrics), bool)
    higher = per_cell((m.direction == "higher" for m in metrics), bool)
    p_ni = np.where(
        rel,
        noninferiority_p(comp.estimate_rel, comp.se_rel, comp.df, margin, higher),
        noninferiority_p(comp.estimate_abs, comp.se_abs, comp.df, margin, higher),
    )
    mde = minimum_detectable_effect(comp.se_abs, spec.alpha, spec.power)
    segments = cells.segment
    family = np.where(
        segments == "all",
        np.where(per_cell((m.role == "guardrail" for m in metrics), bool), "guardrail", "goal"),
        cells.metric + "|" + cells.arm,
    )
    p_adj = adjust_groups(comp.p_value, family, spec.correction)

    numbers = {
        "control_mean": comp.control_mean, "treatment_mean": comp.treatment_mean,
        "estimate_abs": comp.estimate_abs, "estimate_rel": comp.estimate_rel, "se_abs": comp.se_abs,
        "se_rel": comp.se_rel, "df": comp.df, "ci_low": comp.ci_low, "ci_high": comp.ci_high,
        "ci_rel_low": comp.ci_rel_low, "ci_rel_high": comp.ci_rel_high, "p_value": comp.p_value,
        "p_value_adjusted": p_adj, "seq_ci_low": seq_lo, "seq_ci_high": seq_hi, "margin": margin,
        "p_value_noninferiority": p_ni, "variance_reduction": reduction, "mde_achieved": mde,
    }
    columns: dict[str, list] = {k: np.asarray(v, dtype=float).tolist() for k, v in numbers.items()}
    n_c, n_t = comp.n_control.astype(int).tolist(), comp.n_treatment.astype(int).tolist()
    control = str(spec.data.control)
    fixed = {
        "metric": [m.id for m in metrics], "control_arm": [control] * len(metrics), "role": [m.role for m in metrics],
        "kind": [m.kind for m in metrics], "direction": [m.direction for m in metrics],
        "unit": [m.display_unit for m in metrics], "alpha": [spec.alpha] * len(metrics),
        "margin_relative": [m.margin_relative for m in metrics], "label": [m.display_name for m in metrics],
    }
    columns.update({k: per_cell(v).tolist() for k, v in fixed.items()})
    arms = cells.arm.tolist()
    columns.update(arm=arms, segment=[str(s) for s in segments.tolist()], n_control=n_c, n_treatment=n_t)
    adjusted = np.isfinite(reduction)
    plain = per_cell(_METHODS.get(m.kind, "welch") for m in metrics)
    robust = per_cell(_CLUSTER_METHODS.get(m.kind, "cluster-robust") for m in metrics)
    suffix = np.where(adjusted, per_cell(_adjustment_suffix(m) for m in metrics), "")
    columns["method"] = np.where(clustered, robust, plain + suffix).tolist()
    adjusted_for = [_adjusted_for(m) for m in metrics]
    columns["adjusted_for"] = [adjusted_for[w] if a else () for w, a in zip(which.tolist(), adjusted.tolist())]
    # Only cells that may carry a condition go through _cell_conditions (one Python call each).
    with np.errstate(invalid="ignore"):
        maybe = (
            (np.minimum(comp.n_control, comp.n_treatment) < max(spec.min_units, 1))
            | ~(np.isfinite(comp.se_abs) & (comp.se_abs > 0))
            | ((comp.n_control > 0) & (comp.control_mean == 0))
            | (cuped_asked & ~np.isfinite(reduction))
        )
    conditions: list[tuple[Condition, ...]] = [()] * n
    for i in np.flatnonzero(maybe).tolist():
        conditions[i] = _cell_conditions(
            metrics[which[i]], arms[i], control, n_c[i], n_t[i], columns["se_abs"][i], columns["control_mean"][i],
            bool(cuped_asked[i]), columns["variance_reduction"][i], spec.min_units,
        )
    columns["conditions"] = conditions
    return MetricEffect.from_columns(columns)


def _adjustment_suffix(m: MetricSpec) -> str:
    """The method's suffix of an adjusted metric: ``+cuped`` (``pre`` or several covariates) or ``+poststrat``."""
    return "+poststrat" if m.adjust is not None and m.adjust.strata else "+cuped"


def _adjusted_for(m: MetricSpec) -> tuple[str, ...]:
    """The columns an adjusted metric was adjusted for (``pre``, ``pre_denominator`` or ``adjust``)."""
    if m.adjust is not None:
        return m.adjust.names
    return tuple(c for c in (m.pre, m.pre_denominator) if c)


def _decide(
    effects: tuple[MetricEffect, ...], spec: InitiativeSpec, conditions: list[Condition], arms: list[str]
) -> Decision:
    """One decision per treatment arm, combined."""
    primary_id = spec.primary.id
    pairs = []
    for arm in arms[1:]:
        primary = [e for e in effects if e.arm == arm and e.metric == primary_id]
        if not primary:
            continue
        guardrails = [e for e in effects if e.arm == arm and e.role == "guardrail"]
        d = decide(
            primary[0], guardrails, conditions, interval=spec.interval, mde=spec.primary.mde, subject=f"The {arm} arm"
        )
        pairs.append((primary[0], d))
    if pairs:
        return combine(pairs)
    forced = from_conditions(conditions)
    if forced is not None:
        return forced
    reason = f"No treatment arm has units yet, only the control {spec.data.control!r}; keep testing."
    return Decision("keep testing", reason)


def _notes(
    spec: InitiativeSpec, effects: tuple[MetricEffect, ...], counts: Mapping[str, int], design: ClusterDesign | None
) -> tuple[str, ...]:
    """Plain sentences on the method, and the plan for the primary metric."""
    tuning = spec.expected_n or DEFAULT_TUNING
    level = fmt.confidence(spec.alpha)
    kind = "Welch t" if design is None else "cluster-robust t"
    notes = [
        f"Effects are treatment minus control, with {level} {kind} intervals (delta method for relative effects "
        f"and ratio metrics). Anytime-valid {level} intervals use the asymptotic confidence sequence of "
        f"Waudby-Smith et al. tuned at N* = {tuning:,} units"
        f"{'' if spec.expected_n else ' (the default; set expected_n to the planned total)'}; the decision uses the "
        f"{'anytime-valid' if spec.interval == 'sequential' else 'fixed-horizon'} interval. p-values are adjusted "
        f"({_CORRECTION_NAMES[spec.correction]}) within the primary and secondary metrics and, separately, "
        "within the guardrails."
        + ("" if design is None else " " + design.summary()),
    ]
    if any(e.kind == "quantile" for e in effects):
        notes.append(
            "Quantile metrics (percentiles such as a P90) compare the arms' percentiles; each arm's standard error "
            "comes from the density at the percentile, estimated from the binomial order-statistic interval around it"
            + ("." if design is None else (
                f", and the variance of the share of units at or below the percentile is cluster-robust by {design.column} "
                "(Deng, Knoblich and Lu 2018)."
            ))
        )
    primary = [e for e in effects if e.metric == spec.primary.id and e.estimable]
    if primary:
        e = primary[0]
        notes.append(
            f"With the units so far, the smallest change in {e.name} detectable with {spec.power:.0%} power is "
            f"{fmt.change(e.mde_achieved, e.unit).lstrip('+')}."
        )
    planned = primary_plan(spec, effects, len(counts))
    if planned is not None:
        notes.append(planned.summary())
    return tuple(notes)


def primary_plan(spec: InitiativeSpec, effects: Iterable[MetricEffect], arms: int) -> Plan | None:
    """The sample-size plan for the primary metric's minimum worthwhile effect (``mde``).

    Parameters
    ----------
    spec : InitiativeSpec
        The initiative (its ``mde``, level, power, planned split and monthly intake).
    effects : iterable of MetricEffect
        The measured effects; the first estimable one of the primary metric gives the
        per-unit standard deviation.
    arms : int
        Arms seen so far, control included (at least two are planned).

    Returns
    -------
    Plan or None
        None without an ``mde``, or before the primary metric has an estimate.
    """
    primary = [e for e in effects if e.metric == spec.primary.id and e.estimable]
    if not primary or spec.primary.mde is None or primary[0].n_control <= 1:
        return None
    e = primary[0]
    sd = float(np.sqrt(e.se_abs**2 / (1 / e.n_control + 1 / e.n_treatment)))
    share = spec.planned_split or {}
    ratio = share.get(e.arm, 1.0) / share.get(e.control_arm, 1.0) if share else 1.0
    return plan(spec.primary.mde, sd, spec.alpha, spec.power, max(arms, 2), ratio, spec.units_per_month, e.unit)


def analyze_table(df: pd.DataFrame, spec: InitiativeSpec) -> InitiativeResult:
    """Analyse a randomized initiative from a unit-level table (one row per unit).

    Parameters
    ----------
    df : DataFrame
        The user's table: a unit id column (or none with ``data.unit: null``, one row
        per unit), an arm column, metric columns (and pre-period, segment columns) as
        named in ``spec``.
    spec : InitiativeSpec
        The initiative.

    Returns
    -------
    InitiativeResult
        As :func:`analyze_aggregates`. Rows without an arm, units found in several arms
        and missing metric values come back as conditions.

    Raises
    ------
    ParamsError
        When the design is not randomized or a named column is missing or not numeric.

    Examples
    --------
    >>> spec = InitiativeSpec.model_validate({
    ...     "id": "email-test", "data": {"unit": "customer_id", "arm": "segment", "control": "No E-Mail"},
    ...     "metrics": [{"column": "spend", "kind": "mean", "role": "primary"}]})
    >>> result = analyze_table(table, spec)          # doctest: +SKIP
    >>> print(result.summary())                      # doctest: +SKIP
    """
    if spec.design != "randomized":
        raise ParamsError(
            f"initiative {spec.id!r} has design {spec.design!r}; analyze_table handles 'randomized' designs "
            "(use outcomes.experiment.quasi.analysis for 'did' and 'its')"
        )
    _require_columns(df, spec)
    conditions: list[Condition] = []
    arm_col, unit_col = spec.data.arm, spec.data.unit
    no_arm = int(df[arm_col].isna().sum())
    if no_arm:
        conditions.append(Condition(MISSING_VALUES, f"{no_arm:,} rows have no arm and were left out"))
        df = df[df[arm_col].notna()]
    # unit: null means one row per unit, so no unit can be in two arms
    leaked = 0 if unit_col is None else int((df.groupby(unit_col)[arm_col].nunique() > 1).sum())
    if leaked:
        conditions.append(
            Condition(
                UNIT_IN_SEVERAL_ARMS,
                f"{leaked:,} units appear in more than one arm, so the assignment leaked and the arms are not "
                "comparable. Fix the assignment before reading results",
                "stop",
            )
        )
    if spec.data.cluster is not None:
        conditions += _cluster_checks(df, spec)
        df = df[df[spec.data.cluster].notna()]
    for m in spec.metrics:
        col = m.numerator if m.kind == "ratio" else m.column
        missing = int(df[col].isna().sum()) if col in df else 0
        if missing:
            conditions.append(
                Condition(MISSING_VALUES, f"{missing:,} units have no value of {col!r} and were left out of {m.id}")
            )
    by_arm = df.groupby(df[arm_col].astype(str))
    units = (by_arm.size() if unit_col is None else by_arm[unit_col].nunique()).astype(int).to_dict()
    clusters = aggregate_table(df, spec, by_cluster=True) if spec.data.cluster else None
    return analyze_aggregates(aggregate_table(df, spec), spec, units=units, conditions=conditions, clusters=clusters)


def _cluster_checks(df: pd.DataFrame, spec: InitiativeSpec) -> list[Condition]:
    """Rows without a cluster (left out) and clusters found in more than one arm."""
    col, out = str(spec.data.cluster), []
    no_cluster = int(df[col].isna().sum())
    if no_cluster:
        out.append(Condition(MISSING_VALUES, f"{no_cluster:,} rows have no {col} (data.cluster) and were left out"))
    mixed = int((df[df[col].notna()].groupby(col)[spec.data.arm].nunique() > 1).sum())
    if mixed:
        out.append(
            Condition(
                CLUSTER_IN_SEVERAL_ARMS,
                f"{mixed:,} values of {col} (data.cluster) appear in more than one arm, so the change was not given "
                f"by {col}; each part is then taken as its own cluster, which understates the standard error if "
                f"units of one {col} influence each other. Check data.cluster names the unit of randomization",
            )
        )
    return out


def read_table(spec: InitiativeSpec) -> pd.DataFrame:
    """Read ``spec.data.table`` (CSV, compressed CSV or Parquet; relative paths from the project root).

    Raises
    ------
    ParamsError
        When the spec names no table, the file is missing or its format is unknown.
    """
    if not spec.data.table:
        raise ParamsError(f"initiative {spec.id!r}: data.table is not set; name the unit-level CSV or Parquet file")
    path = config.resolve(spec.data.table)
    if not path.is_file():
        raise ParamsError(f"initiative {spec.id!r}: data.table {str(path)!r} not found; check the path")
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz")):
        return pd.read_csv(path)
    if name.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    raise ParamsError(
        f"initiative {spec.id!r}: data.table {path.name!r} must be a .csv (optionally .gz, .bz2, .zip, .xz) "
        f"or .parquet file, got {''.join(Path(name).suffixes)!r}"
    )

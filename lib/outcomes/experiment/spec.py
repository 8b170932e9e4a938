"""The initiative specification: ``params/initiatives/<id>.yaml`` as a frozen, typed model.

Example (a randomized test on a user's own table)::

    id: email-test
    name: E-mail campaign test
    hypothesis: E-mails raise two-week spend
    design: randomized            # randomized | did | its | synthetic_control | staggered
    data:
      table: data/raw/email_test.csv
      unit: customer_id
      arm: segment                # any number of arms; each is compared with the control
      control: No E-Mail
    metrics:
      - {column: spend, kind: mean, role: primary}
      - {column: conversion, kind: proportion, role: guardrail, margin: 0.01}
    alpha: 0.05

Load it with ``outcomes.params.load(path, InitiativeSpec)``.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, field_validator, model_validator

from outcomes.metrics import catalog
from outcomes.params import Params


class DataSpec(Params):
    """Where the initiative's data is and how units and arms are named.

    Parameters
    ----------
    table : str, optional
        A unit-level table (CSV or Parquet path) for user-brought data.
    unit : str or None
        The unit id column (customer, region, service). ``None`` (``unit: null``) for a
        randomized test on a table with one row per unit and no id column (such as a
        published experiment file): each row is a unit, its row number its id.
    arm : str, optional
        The arm column (randomized designs).
    control : str, optional
        The control arm's value in ``arm`` (randomized designs).
    time : str, optional
        The period column (DiD and ITS on a panel).
    segments : list of str
        Columns to break effects down by (each level compared separately).
    requester : {"all", "customer", "employee"}
        Warehouse-backed DiD/ITS designs: whose tickets the ticket metrics count.
    cluster : str, optional
        Randomized designs: the column naming the unit of randomization (queue, team,
        site) when whole clusters got an arm; the arms are then compared with
        cluster-robust standard errors.
    cluster_se : {"CR2", "CR1"}
        The small-sample correction of those standard errors: ``CR2`` (bias-reduced,
        the default; holds its level with 20 clusters of unequal sizes) or ``CR1`` (as
        statsmodels' and Stata's clustered errors).
    """

    table: str | None = None
    unit: str | None
    arm: str | None = None
    control: str | None = None
    time: str | None = None
    segments: list[str] = Field(default_factory=list)
    requester: Literal["all", "customer", "employee"] = "all"
    cluster: str | None = None
    cluster_se: Literal["CR2", "CR1"] = "CR2"


class AdjustSpec(Params):
    """Variance reduction of a mean or proportion metric beyond one pre-period column.

    Give exactly one of the two keys::

        adjust: {covariates: [tickets_pre, orders_pre]}   # CUPED on several covariates
        adjust: {strata: segment}                         # post-stratification

    Parameters
    ----------
    covariates : list of str
        Columns measured before the start (pre-period values of this or other metrics);
        the metric is adjusted for all of them at once (regression adjustment, ``theta``
        pooled over the arms). One covariate is the same as ``pre``.
    strata : str, optional
        A categorical column fixed before the start (customer segment, region); each
        arm's mean is re-weighted to the strata's pooled shares.
    """

    covariates: list[str] = Field(default_factory=list)
    strata: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> AdjustSpec:
        if self.covariates and self.strata:
            raise ValueError(
                f"adjust takes either covariates ({self.covariates}) or strata ({self.strata!r}), not both; write "
                f"adjust: {{covariates: {self.covariates}}} or adjust: {{strata: {self.strata}}}"
            )
        if not (self.covariates or self.strata):
            raise ValueError(
                "adjust needs covariates (pre-period columns) or strata (a category fixed before the start), "
                "e.g. adjust: {covariates: [tickets_pre, orders_pre]} or adjust: {strata: segment}"
            )
        repeated = sorted({c for c in self.covariates if self.covariates.count(c) > 1})
        if repeated:
            raise ValueError(f"adjust.covariates names {repeated} more than once; list each column once")
        return self

    @property
    def names(self) -> tuple[str, ...]:
        """What the metric is adjusted for: the covariates, or the strata column."""
        return tuple(self.covariates) if self.covariates else (str(self.strata),)


class MetricSpec(Params):
    """One metric of the initiative.

    Parameters
    ----------
    column : str, optional
        The unit-level column (means and proportions). One of ``column``/``metric``, or
        ``numerator`` and ``denominator`` for ratios, is required.
    metric : str, optional
        A warehouse metric id from the catalog (used when the data come from the warehouse).
    kind : {"mean", "proportion", "ratio", "quantile"}
        How the metric is computed per unit; ``quantile`` compares a percentile of
        ``column`` (a P90 response time) between the arms.
    quantile : float, optional
        The percentile of a ``quantile`` metric as a probability in (0, 1): 0.9 for P90.
    numerator, denominator : str, optional
        Columns of a ratio metric ``sum(numerator) / sum(denominator)``.
    role : {"primary", "guardrail", "secondary"}
        Exactly one metric is primary.
    pre : str, optional
        Pre-period column of the same metric, for CUPED (the numerator's for ratios).
    pre_denominator : str, optional
        Pre-period column of a ratio's denominator; with ``pre``, CUPED on the ratio.
    adjust : AdjustSpec, optional
        Mean and proportion metrics: CUPED on several pre-period columns
        (``{covariates: [...]}``) or post-stratification (``{strata: column}``); instead
        of ``pre``, which is the one-covariate case.
    direction : {"higher", "lower"}
        Which way is better.
    margin : float, optional
        Non-inferiority margin for guardrails (positive; absolute unless ``margin_relative``).
    margin_relative : bool
        Whether ``margin`` is a fraction of the control level.
    mde : float, optional
        Minimum worthwhile effect (absolute; primary metric): planning and "stop" when
        an inconclusive interval rules it out.
    unit : str, optional
        Display unit; defaults to ``"fraction"`` for proportions, else empty.
    label : str, optional
        Display name.
    """

    column: str | None = None
    metric: str | None = None
    kind: Literal["mean", "proportion", "ratio", "quantile"] = "mean"
    quantile: float | None = Field(default=None, gt=0, lt=1)
    numerator: str | None = None
    denominator: str | None = None
    role: Literal["primary", "guardrail", "secondary"] = "secondary"
    pre: str | None = None
    pre_denominator: str | None = None
    adjust: AdjustSpec | None = None
    direction: Literal["higher", "lower"] = "higher"
    margin: float | None = Field(default=None, gt=0)
    margin_relative: bool = False
    mde: float | None = Field(default=None, gt=0)
    unit: str | None = None
    label: str | None = None

    @model_validator(mode="after")
    def _adjust_fits(self) -> MetricSpec:
        if self.adjust is None:
            return self
        if self.kind not in ("mean", "proportion"):
            instead = (
                "give pre and pre_denominator for CUPED on a ratio" if self.kind == "ratio"
                else "percentiles take no adjustment"
            )
            raise ValueError(f"adjust is for mean and proportion metrics; this metric is a {self.kind}: remove adjust ({instead})")
        if self.pre:
            raise ValueError(
                f"give either pre ({self.pre!r}, one covariate) or adjust, not both; write "
                f"adjust: {{covariates: [{', '.join([self.pre, *self.adjust.covariates]) if self.adjust.covariates else self.pre}]}} "
                "and remove pre"
            )
        return self

    @model_validator(mode="after")
    def _columns_given(self) -> MetricSpec:
        if self.quantile is not None and self.kind != "quantile":
            raise ValueError(f"'quantile' is for quantile metrics; this metric is a {self.kind}; write kind: quantile")
        if self.kind == "ratio":
            if not (self.numerator and self.denominator):
                raise ValueError("a ratio metric needs 'numerator' and 'denominator' columns")
            if bool(self.pre) != bool(self.pre_denominator):
                raise ValueError(
                    "CUPED on a ratio needs both 'pre' (the numerator's pre-period column) and 'pre_denominator' "
                    "(the denominator's); give both or neither"
                )
        elif self.kind == "quantile" and (self.quantile is None or not self.column or self.pre):
            raise ValueError(
                "a quantile metric needs 'column' (one value per unit) and 'quantile' (0.9 for P90), and takes no "
                "'pre' (CUPED does not apply to percentiles); e.g. {column: response_hours, kind: quantile, quantile: 0.9}"
            )
        elif self.pre_denominator:
            raise ValueError(f"'pre_denominator' is for ratio metrics; this metric is a {self.kind}, so give only 'pre'")
        elif not (self.column or self.metric):
            raise ValueError(f"a {self.kind} metric needs 'column' (a table column) or 'metric' (a catalog id)")
        return self

    @property
    def id(self) -> str:
        """The metric's id in results: ``metric``, else ``column`` (``<column>_p90`` for a P90), else ``numerator_per_denominator``."""
        if self.kind == "quantile" and not self.metric:
            return f"{self.column}_p{round(100 * self.quantile, 1):g}"
        return self.metric or self.column or f"{self.numerator}_per_{self.denominator}"

    @property
    def display_name(self) -> str:
        """The name readers see: ``label``, else the catalog's name of ``metric``, else the id in words."""
        if self.label:
            return self.label
        if self.metric and self.metric in catalog.ids():
            return catalog.get(self.metric).name
        return self.id.replace("_", " ")

    @property
    def display_unit(self) -> str:
        """``unit``, defaulting to ``"fraction"`` for proportions."""
        if self.unit is not None:
            return self.unit
        return "fraction" if self.kind == "proportion" else ""


class InitiativeSpec(Params):
    """An initiative: hypothesis, design, data, metrics and the test's settings.

    Parameters
    ----------
    id : str
        Short id (file name ``params/initiatives/<id>.yaml``).
    name, hypothesis : str
        Shown in reports.
    design : {"randomized", "did", "its", "synthetic_control", "staggered"}
        Randomized comparison, difference-in-differences, interrupted time series, a
        synthetic control (a change launched at one unit: ``treated_units`` names exactly one),
        or difference-in-differences of a rollout that reached the units at different periods
        (``staggered``, with ``rollout``).
    data : DataSpec
        Table, unit, arm and control.
    metrics : list of MetricSpec
        Exactly one primary; guardrails and secondaries optional.
    alpha : float
        Two-sided significance level, in (0, 1).
    correction : {"holm", "bh", "none"}
        Multiple-comparison correction within each family.
    planned_split : dict, optional
        Planned share per arm (weights; normalised). Equal shares when omitted.
    srm_threshold : float
        Flag a sample ratio mismatch below this p-value.
    min_units : int
        Fewer units than this in an arm is a "keep testing" condition.
    interval : {"sequential", "fixed"}
        Which interval the decision uses; ``sequential`` keeps monthly looks valid.
    expected_n : int, optional
        Tuning N* of the anytime-valid interval: expected total units of control plus one
        treatment arm at the planned end (default 5,000).
    power : float
        Target power for planning and the MDE reported so far.
    units_per_month : float, optional
        Eligible units entering per month, for the duration of the plan.
    start_date : str, optional
        First period with the change. Randomized designs and the warehouse: an ISO date
        (``2025-03-01``). DiD and ITS on a table: a period of the same kind as the
        period column (``data.time``): a year or period number (``1931``, quoted or
        not), a quarter (``2025Q1``), an ISO week (``2025-W09``), a month (``2025-03``)
        or a date. Numbers and YAML dates are kept as their text.
    end_date : str, optional
        ISO date of the last day of the test window.
    min_pre_periods : int, optional
        DiD and ITS: fewer periods before the start leave the result blocked
        ("keep testing"). Default 3 for DiD (1 allows the textbook 2x2, whose parallel
        trends cannot then be checked), 8 for ITS and 5 for a synthetic control (its
        weights are fitted on them).
    treated_units : list of str, optional
        Treated units of DiD/ITS designs; the one treated unit of a synthetic control.
    rollout : dict of str to str, optional
        Staggered designs: each treated unit and its first period with the change, e.g.
        ``{north: 2025-03, east: 2025-06}`` (periods of the kind in ``data.time``, kept as
        text like ``start_date``); units not named were never treated.
    active : bool
        Whether the monthly report reviews the initiative (``outcomes run`` picks the
        files with ``active: true``).
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str = ""
    hypothesis: str = ""
    design: Literal["randomized", "did", "its", "synthetic_control", "staggered"] = "randomized"
    data: DataSpec
    metrics: list[MetricSpec] = Field(min_length=1)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    correction: Literal["holm", "bh", "none"] = "holm"
    planned_split: dict[str, float] | None = None
    srm_threshold: float = Field(default=0.001, gt=0, lt=1)
    min_units: int = Field(default=30, ge=2)
    interval: Literal["sequential", "fixed"] = "sequential"
    expected_n: int | None = Field(default=None, gt=0)
    power: float = Field(default=0.8, gt=0, lt=1)
    units_per_month: float | None = Field(default=None, gt=0)
    start_date: str | None = None
    end_date: str | None = None
    min_pre_periods: int | None = Field(default=None, ge=1)
    treated_units: list[str] | None = None
    rollout: dict[str, str] | None = None
    active: bool = False

    @model_validator(mode="after")
    def _unit_needed(self) -> InitiativeSpec:
        if self.data.unit is None and (self.design != "randomized" or not self.data.table):
            raise ValueError(
                "data.unit: null (one row per unit, no id column) needs a randomized design on a unit-level "
                f"data.table; design {self.design!r}{'' if self.data.table else ' without data.table'} needs the "
                "unit id column, e.g. data.unit: customer"
            )
        return self

    @field_validator("start_date", "end_date", mode="before")
    @classmethod
    def _period_text(cls, value: object) -> object:
        """Keep a period written as a YAML number (``1931``) or date (``2025-03-01``) as its text."""
        if isinstance(value, bool):
            return value  # refused by the str type, not read as 1 or 0
        if isinstance(value, int | dt.date):
            return value.isoformat() if isinstance(value, dt.date) else str(value)
        return value

    @field_validator("rollout", mode="before")
    @classmethod
    def _rollout_text(cls, value: object) -> object:
        """Keep unit names and starts written as YAML numbers or dates as their text."""
        if isinstance(value, dict):
            return {str(k): cls._period_text(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _rollout_given(self) -> InitiativeSpec:
        if self.design == "staggered":
            if not self.rollout:
                raise ValueError(
                    "design 'staggered' needs 'rollout': each treated unit and its first period with the change, "
                    "e.g. rollout: {north: 2025-03, east: 2025-06}; units not named count as never treated"
                )
            if self.treated_units:
                raise ValueError(
                    "design 'staggered' names its treated units with their starts in 'rollout' "
                    "(e.g. rollout: {north: 2025-03, east: 2025-06}); remove 'treated_units'"
                )
            if not self.data.table:
                raise ValueError(
                    "design 'staggered' reads a unit x period panel from 'data.table' (with data.unit and data.time); "
                    "the warehouse panels serve did and its only"
                )
        elif self.rollout:
            raise ValueError(
                f"'rollout' (a start per unit) is for design 'staggered', but design is {self.design!r}; "
                "set design: staggered, or give treated_units and one start_date for a did design"
            )
        return self

    @field_validator("planned_split")
    @classmethod
    def _positive_split(cls, split: dict[str, float] | None) -> dict[str, float] | None:
        if split is not None and any(v <= 0 for v in split.values()):
            raise ValueError(f"every planned share must be positive, got {split}")
        return split

    @model_validator(mode="after")
    def _consistent(self) -> InitiativeSpec:
        roles = [m.role for m in self.metrics]
        if roles.count("primary") != 1:
            raise ValueError(
                f"exactly one metric must have role 'primary', found {roles.count('primary')} "
                f"(roles: {roles}); mark the metric the decision rests on as primary"
            )
        ids = [m.id for m in self.metrics]
        if len(set(ids)) != len(ids):
            raise ValueError(f"metric ids must be unique, found {ids}")
        if self.design == "randomized" and not (self.data.arm and self.data.control):
            raise ValueError(
                "a randomized design needs 'data.arm' (the arm column) and 'data.control' (its control value)"
            )
        return self

    @model_validator(mode="after")
    def _one_treated_unit(self) -> InitiativeSpec:
        if self.design == "synthetic_control" and len(set(self.treated_units or ())) != 1:
            raise ValueError(
                f"design 'synthetic_control' needs exactly one unit in treated_units, got {self.treated_units}; "
                "name the site that got the change (treated_units: [north]), or use design 'did' for several"
            )
        return self

    @model_validator(mode="after")
    def _adjust_design(self) -> InitiativeSpec:
        adjusted = [m.id for m in self.metrics if m.adjust is not None]
        if adjusted and self.design != "randomized":
            raise ValueError(
                f"adjust (metrics {adjusted}) is for randomized designs; design {self.design!r} compares periods "
                "and units, not arms: remove adjust"
            )
        if adjusted and self.data.cluster is not None:
            raise ValueError(
                f"adjust (metrics {adjusted}) cannot be combined with data.cluster ({self.data.cluster!r}): "
                "cluster-robust errors are computed without covariates; remove adjust or data.cluster"
            )
        return self

    @property
    def primary(self) -> MetricSpec:
        """The primary metric."""
        return next(m for m in self.metrics if m.role == "primary")

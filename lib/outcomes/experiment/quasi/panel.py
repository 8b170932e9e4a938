"""The input of every quasi-experimental design: a checked unit x period panel.

A rollout that was not randomized is analysed on a panel (one row per unit and
period: region x month, service x month...) plus the units that got the change and
the date it started. :func:`prepare_panel` checks the frame once, at the entry
point, and adds the columns the estimators share (treated, post, position of the
period, period relative to the start). Misuse (a missing column, duplicate rows)
raises :class:`~outcomes.errors.OutcomesError`; expected data conditions (no treated
unit, a start date outside the data, too few pre-periods) come back as
:class:`~outcomes.experiment.results.Condition` values on the panel so that reports can say "insufficient data".
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from outcomes.errors import OutcomesError
from outcomes.experiment.results import BlockAction, Condition

#: Condition codes of the quasi designs (stable strings, beside those of :mod:`outcomes.experiment.results`).
NO_TREATED_UNITS = "no_treated_units"
NO_CONTROL_UNITS = "no_control_units"
START_OUTSIDE_DATA = "start_outside_data"
TOO_FEW_PRE_PERIODS = "too_few_pre_periods"
TOO_FEW_POST_PERIODS = "too_few_post_periods"
UNKNOWN_TREATED_UNITS = "unknown_treated_units"
MISSING_OUTCOMES = "missing_outcomes"
FEW_CLUSTERS = "few_clusters"
FEW_TREATED_UNITS = "few_treated_units"
PRE_TREND = "pre_trend"
PLACEBO_IN_TIME = "placebo_in_time"
PLACEBO_IN_SPACE = "placebo_in_space"
INFERENCE_DISAGREES = "inference_disagrees"
NO_INTERVAL = "no_interval"
PRE_TREND_NOT_CHECKED = "pre_trend_not_checked"
SENSITIVE_TO_TRENDS = "sensitive_to_trends"

#: What a condition that leaves nothing to estimate forces: the data must grow before a decision.
BLOCKS: BlockAction = "keep testing"

#: The periods a panel may have, in words (the message for a wrong one lists them).
PERIOD_FORMS = (
    "period numbers or years (1931), quarters (2025Q1), ISO weeks (2025-W09), months (2025-03) or dates (2025-03-01)"
)
#: Periods given as text, by kind (a column whose every value matches one form is of that kind).
_PERIOD_TEXT = {
    "year": re.compile(r"-?\d{1,4}"),
    "quarter": re.compile(r"(\d{4})-?Q([1-4])", re.IGNORECASE),
    "week": re.compile(r"(\d{4})-?W(\d{2})", re.IGNORECASE),
    "month": re.compile(r"(\d{4})-(\d{2})"),
}
_KIND_WORDS = {
    "number": "period numbers",
    "year": "years",
    "quarter": "quarters",
    "week": "ISO weeks",
    "month": "months",
    "date": "dates",
}

#: Internal column names of :attr:`QuasiPanel.data`.
UNIT, PERIOD, Y, TREATED, POST, POS, REL = "unit", "period", "y", "treated", "post", "pos", "rel"


class QuasiInputError(OutcomesError, ValueError):
    """A panel frame or argument the quasi-experimental designs cannot use at all."""


@dataclass(frozen=True)
class QuasiPanel:
    """A checked panel with the columns the estimators share.

    Attributes
    ----------
    data : pandas.DataFrame
        Columns ``unit``, ``period``, ``y``, ``treated`` (bool), ``post`` (bool),
        ``pos`` (0-based position of the period among all periods), ``rel`` (position
        relative to the first post period: -1 is the last pre-period) and the covariates.
    outcome : str
        Name of the outcome column in the user's frame (the metric).
    unit_col, period_col : str
        Names of the unit and period columns in the user's frame.
    covariates : tuple of str
        Covariate columns kept in ``data``.
    treated_units : tuple
        Treated units found in the data.
    start : pandas.Timestamp or int
        First period of the change.
    periods : tuple
        Sorted distinct periods.
    conditions : tuple of Condition
        Conditions found while checking.
    """

    data: pd.DataFrame
    outcome: str
    unit_col: str
    period_col: str
    covariates: tuple[str, ...]
    treated_units: tuple[Any, ...]
    start: Any
    periods: tuple[Any, ...]
    conditions: tuple[Condition, ...]

    @property
    def n_units(self) -> int:
        """Number of distinct units."""
        return int(self.data[UNIT].nunique())

    @property
    def n_treated(self) -> int:
        """Number of treated units present in the data."""
        return len(self.treated_units)

    @property
    def n_control(self) -> int:
        """Number of untreated units."""
        return self.n_units - self.n_treated

    @property
    def n_pre(self) -> int:
        """Number of periods before the start."""
        return sum(1 for p in self.periods if p < self.start)

    @property
    def n_post(self) -> int:
        """Number of periods from the start on."""
        return len(self.periods) - self.n_pre

    @property
    def blocked(self) -> bool:
        """True when a blocking condition leaves nothing to estimate."""
        return any(c.blocks is not None for c in self.conditions)

    def with_start(self, start: Any, *, pre_only: bool = False) -> QuasiPanel:
        """Return the same panel with another start date (for placebo checks).

        Parameters
        ----------
        start : pandas.Timestamp or int
            The new start; must be one of :attr:`periods`.
        pre_only : bool
            Keep only the periods before the real start.

        Returns
        -------
        QuasiPanel
        """
        data = self.data[self.data[PERIOD] < self.start] if pre_only else self.data
        periods = tuple(p for p in self.periods if (not pre_only or p < self.start))
        return _finish(data.drop(columns=[POST, POS, REL]), self, start, periods, self.treated_units, ())

    def with_treated(self, treated_units: tuple[Any, ...], *, drop: tuple[Any, ...] = ()) -> QuasiPanel:
        """Return the same panel with other treated units (for placebo-in-space checks).

        Parameters
        ----------
        treated_units : tuple
            Units to mark as treated.
        drop : tuple
            Units to remove first (the really treated units).

        Returns
        -------
        QuasiPanel
        """
        data = self.data[~self.data[UNIT].isin(drop)].copy()
        data[TREATED] = data[UNIT].isin(treated_units)
        return _finish(data.drop(columns=[POST, POS, REL]), self, self.start, self.periods, treated_units, ())


def period_label(value: Any) -> str:
    """Return a period as text: ``2025-03-01`` for dates, the number otherwise."""
    return value.strftime("%Y-%m-%d") if isinstance(value, pd.Timestamp) else str(value)


def _period_kind(values: pd.Series) -> str:
    """The kind of period a column holds: ``"number"``, ``"year"``, ``"quarter"``, ``"week"``, ``"month"`` or ``"date"``."""
    if pd.api.types.is_integer_dtype(values):
        return "number"
    if pd.api.types.is_float_dtype(values):
        present = values.dropna()
        return "number" if len(present) and (present == present.round()).all() else "date"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "date"
    text = values.dropna().astype(str).str.strip()
    for kind, form in _PERIOD_TEXT.items():
        if len(text) and text.str.fullmatch(form).all():
            return kind
    return "date"


def _period_value(value: Any, kind: str) -> Any:
    """One period (a cell of the column, or the start) on the scale of ``kind``; raise ValueError when it is not one."""
    if kind in ("number", "year"):
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a period number")
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
            return int(value)
        if hasattr(value, "dtype") and pd.api.types.is_integer_dtype(value.dtype):
            return int(value)
        raise ValueError(f"{value!r} is not a period number")
    text = str(value).strip() if isinstance(value, str) else None
    if text is not None:
        if m := _PERIOD_TEXT["quarter"].fullmatch(text):
            return pd.Period(f"{m[1]}Q{m[2]}", "Q").start_time
        if m := _PERIOD_TEXT["week"].fullmatch(text):
            return pd.Timestamp(dt.date.fromisocalendar(int(m[1]), int(m[2]), 1))
        if _PERIOD_TEXT["year"].fullmatch(text):
            return pd.Timestamp(int(text), 1, 1)
    stamp = pd.Timestamp(value)
    if stamp is pd.NaT:
        raise ValueError(f"{value!r} is not a date")
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def _coerce_periods(values: pd.Series, start: Any, period_col: str) -> tuple[pd.Series, Any]:
    """Return periods and start on one comparable scale: integers (period numbers, years), or timestamps.

    Quarters, ISO weeks and months given as text become the timestamp of their first day.
    """
    if pd.api.types.is_bool_dtype(values):
        raise QuasiInputError(_period_refusal(period_col, start, "the column is boolean"))
    kind = _period_kind(values)
    try:
        return _column_periods(values, kind), _period_value(start, kind)
    except (TypeError, ValueError, OverflowError) as exc:
        raise QuasiInputError(_period_refusal(period_col, start, f"{exc}; the column holds {_KIND_WORDS[kind]}")) from None


def _column_periods(values: pd.Series, kind: str) -> pd.Series:
    """The period column on the scale of ``kind``: int64, or datetime64 of each period's first day."""
    if kind in ("number", "year"):
        return values.map(lambda v: _period_value(v, kind)).astype("int64")
    if kind == "date":
        periods = pd.to_datetime(values)
        if getattr(periods.dt, "tz", None) is not None:
            periods = periods.dt.tz_convert("UTC").dt.tz_localize(None)
    else:
        periods = values.map(lambda v: _period_value(v, kind))
    return pd.Series(periods, index=values.index).astype("datetime64[ns]")


def read_periods(values: pd.Series, period_col: str) -> pd.Series:
    """A period column as the designs read it: integers (period numbers, years) or the first day of each period.

    Parameters
    ----------
    values : pandas.Series
        The column: integers, years, quarters, ISO weeks or months as text, or dates.
    period_col : str
        Its name, for the message.

    Returns
    -------
    pandas.Series
        int64, or datetime64 (timezone-naive, UTC).

    Raises
    ------
    QuasiInputError
        When the column is not one kind of period.
    """
    kind = _period_kind(values)
    try:
        return _column_periods(values, kind)
    except (TypeError, ValueError, OverflowError) as exc:
        raise QuasiInputError(_period_refusal(period_col, None, f"{exc}; the column holds {_KIND_WORDS[kind]}")) from None


def _period_refusal(period_col: str, start: Any, detail: str) -> str:
    """The one message for periods the designs cannot read."""
    return (
        f"period column '{period_col}' and start {start!r} cannot be read as periods of one kind ({detail}). "
        f"Give {PERIOD_FORMS}, the same kind in the column and in the start"
    )


def _finish(
    data: pd.DataFrame,
    like: QuasiPanel | None,
    start: Any,
    periods: tuple[Any, ...],
    treated_units: tuple[Any, ...],
    conditions: tuple[Condition, ...],
    *,
    outcome: str = "",
    unit_col: str = "",
    period_col: str = "",
    covariates: tuple[str, ...] = (),
) -> QuasiPanel:
    """Add post, position and relative-time columns and build the panel."""
    position = {p: i for i, p in enumerate(periods)}
    first_post = next((position[p] for p in periods if p >= start), len(periods))
    pos = data[PERIOD].map(position).astype("int64")
    data = data.assign(**{POST: data[PERIOD] >= start, POS: pos, REL: pos - first_post})
    if like is not None:
        outcome, unit_col, period_col, covariates = like.outcome, like.unit_col, like.period_col, like.covariates
    return QuasiPanel(
        data=data.reset_index(drop=True),
        outcome=outcome,
        unit_col=unit_col,
        period_col=period_col,
        covariates=covariates,
        treated_units=tuple(treated_units),
        start=start,
        periods=periods,
        conditions=conditions,
    )


def prepare_panel(
    frame: pd.DataFrame,
    *,
    unit: str,
    period: str,
    outcome: str,
    start: Any,
    treated_units: tuple[Any, ...] | list[Any] | None = None,
    covariates: tuple[str, ...] | list[str] = (),
    min_pre_periods: int = 3,
    min_post_periods: int = 1,
    require_control: bool = True,
) -> QuasiPanel:
    """Check a unit x period frame and add the columns the designs share.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per unit and period.
    unit, period, outcome : str
        Column names. Periods are dates (for example the first of each month) or integers.
    start : date-like or int
        First period with the change (same scale as ``period``).
    treated_units : sequence, optional
        Units that got the change. ``None`` marks every unit treated (a rollout to all,
        as analysed by an interrupted time series).
    covariates : sequence of str
        Extra numeric columns to adjust for.
    min_pre_periods : int
        Fewer periods before the start give the blocking condition ``TOO_FEW_PRE_PERIODS``.
    min_post_periods : int
        Fewer periods from the start on give the blocking condition ``TOO_FEW_POST_PERIODS``.
    require_control : bool
        Whether untreated units are needed (difference-in-differences) or not.

    Returns
    -------
    QuasiPanel

    Raises
    ------
    QuasiInputError
        When a column is missing, the outcome or a covariate is not numeric, or a unit
        has two rows for one period.
    """
    covariates = tuple(covariates)
    _check_arguments(frame, unit, period, outcome, covariates, min_pre_periods, min_post_periods)
    periods, start = _coerce_periods(frame[period], start, period)
    data = _internal_frame(frame, periods, unit, period, outcome, covariates)
    data, conditions = _drop_missing(data, covariates)
    treated, unknown = _treated_in_data(data, treated_units, unit)
    conditions += unknown
    data[TREATED] = data[UNIT].isin(treated)
    sorted_periods = tuple(data[PERIOD].drop_duplicates().sort_values())
    conditions += _group_conditions(treated, len(pd.unique(data[UNIT])), require_control)
    conditions += _timing_conditions(sorted_periods, start, min_pre_periods, min_post_periods)
    return _finish(
        data,
        None,
        start,
        sorted_periods,
        treated,
        tuple(conditions),
        outcome=outcome,
        unit_col=unit,
        period_col=period,
        covariates=covariates,
    )


def _check_arguments(
    frame: pd.DataFrame,
    unit: str,
    period: str,
    outcome: str,
    covariates: tuple[str, ...],
    min_pre_periods: int,
    min_post_periods: int,
) -> None:
    """Raise for minimum period counts below 1, a missing column, or a non-numeric outcome or covariate."""
    if min_pre_periods < 1 or min_post_periods < 1:
        raise QuasiInputError(
            f"min_pre_periods and min_post_periods must be at least 1, got {min_pre_periods} and {min_post_periods}"
        )
    needed = [unit, period, outcome, *covariates]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise QuasiInputError(
            f"column(s) {missing} not in the panel frame. Columns in the frame: {list(frame.columns)}; "
            "pass the right names as unit=, period=, outcome=, covariates="
        )
    for col in (outcome, *covariates):
        if not pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_bool_dtype(frame[col]):
            raise QuasiInputError(
                f"column '{col}' must be numeric, found dtype {frame[col].dtype}; convert it before the analysis"
            )


def _internal_frame(
    frame: pd.DataFrame, periods: pd.Series, unit: str, period: str, outcome: str, covariates: tuple[str, ...]
) -> pd.DataFrame:
    """The user's frame under the internal column names, periods coded; raise for a unit with two rows in a period."""
    data = pd.DataFrame(
        {UNIT: frame[unit].to_numpy(), PERIOD: periods.to_numpy(), Y: frame[outcome].astype("float64").to_numpy()}
    )
    for col in covariates:
        data[col] = frame[col].astype("float64").to_numpy()
    dup = data.duplicated([UNIT, PERIOD])
    if dup.any():
        row = int(dup.to_numpy().argmax())
        raise QuasiInputError(
            f"unit '{data[UNIT].iat[row]}' has more than one row for period {data[PERIOD].iat[row]} "
            f"(row {row} of the frame); aggregate the panel to one row per {unit} and {period}"
        )
    return data


def _drop_missing(data: pd.DataFrame, covariates: tuple[str, ...]) -> tuple[pd.DataFrame, list[Condition]]:
    """Leave out the rows with a missing outcome or covariate, with the condition that says how many."""
    n_missing = int(data[[Y, *covariates]].isna().any(axis=1).sum())
    if not n_missing:
        return data, []
    condition = Condition(MISSING_OUTCOMES, f"{n_missing} unit-period row(s) with a missing value were left out.")
    return data.dropna(subset=[Y, *covariates]), [condition]


def _treated_in_data(
    data: pd.DataFrame, treated_units: tuple[Any, ...] | list[Any] | None, unit: str
) -> tuple[tuple[Any, ...], list[Condition]]:
    """The treated units found in the data, and a condition naming those that are not.

    ``treated_units=None`` marks every unit treated (a rollout to all).
    """
    units = pd.unique(data[UNIT])
    if treated_units is None:
        return tuple(units), []
    wanted = list(dict.fromkeys(treated_units))
    treated = tuple(u for u in wanted if u in set(units))
    unknown = [u for u in wanted if u not in set(units)]
    if not unknown:
        return treated, []
    return treated, [
        Condition(
            UNKNOWN_TREATED_UNITS,
            f"treated unit(s) {unknown} do not appear in column '{unit}'; units in the data: {list(units)}.",
        )
    ]


def _group_conditions(treated: tuple[Any, ...], n_units: int, require_control: bool) -> list[Condition]:
    """Blocking conditions of the groups: no treated unit, or (when controls are needed) no untreated unit."""
    conditions = []
    if not treated:
        conditions.append(
            Condition(NO_TREATED_UNITS, "No treated unit is in the data: there is nothing to compare.", BLOCKS)
        )
    if require_control and len(treated) == n_units:
        conditions.append(
            Condition(
                NO_CONTROL_UNITS,
                "Every unit was treated, so no untreated unit shows what would have happened; "
                "use an interrupted time series instead.",
                BLOCKS,
            )
        )
    return conditions


def _timing_conditions(
    periods: tuple[Any, ...], start: Any, min_pre_periods: int, min_post_periods: int
) -> list[Condition]:
    """Blocking conditions of the start: outside the data, or too few periods before or from it."""
    conditions = []
    n_pre = sum(1 for p in periods if p < start)
    if not periods or start <= periods[0] or start > periods[-1]:
        span = "no periods"
        if periods:
            span = f"{period_label(periods[0])} to {period_label(periods[-1])}"
        conditions.append(
            Condition(
                START_OUTSIDE_DATA,
                f"The start {period_label(start)} is outside the data ({span}): the analysis needs periods "
                "both before and after it.",
                BLOCKS,
            )
        )
    elif n_pre < min_pre_periods:
        conditions.append(
            Condition(
                TOO_FEW_PRE_PERIODS,
                f"Only {n_pre} period(s) before the start; at least {min_pre_periods} are needed to judge "
                "the trend before the change.",
                BLOCKS,
            )
        )
    n_post = len(periods) - n_pre
    if n_pre and n_post and n_post < min_post_periods:
        conditions.append(
            Condition(
                TOO_FEW_POST_PERIODS,
                f"Only {n_post} period(s) from the start on; at least {min_post_periods} are needed to measure "
                "the change.",
                BLOCKS,
            )
        )
    return conditions

"""Result types shared by every experiment design (randomized, DiD, ITS).

A design's engine fills :class:`MetricEffect` rows (one per metric x arm, and per segment
when sliced), :func:`outcomes.experiment.decision.decide` turns the primary and guardrail
rows into one :class:`Decision`, and :class:`InitiativeResult` carries the lot. The types
are frozen and hold plain floats, so they pickle, compare and serialise without surprises.

Conventions (stable; other modules and the monthly ``results.json`` rely on them)

* Effects are *treatment minus control* on the metric's own scale (``estimate_abs``) and
  relative to the control mean (``estimate_rel = estimate_abs / control_mean``).
* ``ci_low``/``ci_high`` are fixed-horizon, unadjusted, two-sided ``1 - alpha`` intervals on
  the absolute scale; ``ci_rel_low``/``ci_rel_high`` the same on the relative scale.
* ``seq_ci_low``/``seq_ci_high`` are anytime-valid (sequential) intervals on the absolute
  scale; ``NaN`` when the design has none (quasi-experiments).
* Missing numbers are ``NaN`` (``None`` in :meth:`to_dict`), never absent.
* Designs without arms use ``arm="treated"`` and ``control_arm="untreated"``.
* ``unit="fraction"`` marks rates stored as fractions (0.27); they are shown as % and
  their differences as percentage points (pp).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeVar

import pandas as pd

from outcomes import format as fmt
from outcomes.cache import Codec

Role = Literal["primary", "guardrail", "secondary"]
Kind = Literal["mean", "proportion", "ratio", "quantile"]
Direction = Literal["higher", "lower"]
Action = Literal["ship", "keep testing", "stop"]
#: The decision vocabulary, in the order of the rule's preference: every decision is one of these.
ACTIONS: tuple[Action, ...] = ("ship", "keep testing", "stop")
BlockAction = Literal["stop", "keep testing"]
_T = TypeVar("_T")

# Condition codes: stable strings that programs and tests may match on.
EMPTY_ARM = "empty_arm"
TOO_FEW_UNITS = "too_few_units"
ZERO_VARIANCE = "zero_variance"
ZERO_CONTROL_MEAN = "zero_control_mean"
SAMPLE_RATIO_MISMATCH = "sample_ratio_mismatch"
CUPED_NOT_APPLIED = "cuped_not_applied"
MISSING_VALUES = "missing_values"
NO_PRIMARY = "no_primary_metric"
SEGMENT_CAVEAT = "segment_multiple_comparisons"
SEGMENT_SAMPLE_RATIO_MISMATCH = "segment_sample_ratio_mismatch"
#: ``data.control`` absent from the data's arms, or a single arm: the parameters are wrong.
ARM_SETUP = "arm_setup"


@dataclass(frozen=True)
class Condition:
    """A data condition found while analysing, stated as a code and a plain sentence.

    Parameters
    ----------
    code : str
        A stable identifier such as ``"sample_ratio_mismatch"`` (see the module constants).
    message : str
        One plain sentence saying what was found and what it means.
    blocks : {"stop", "keep testing"} or None
        The decision this condition forces when it applies to the primary metric or to
        the whole initiative; ``None`` for conditions that only inform.
    """

    code: str
    message: str
    blocks: BlockAction | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the condition as a JSON-ready mapping."""
        return {"code": self.code, "message": self.message, "blocks": self.blocks}


def _clean(value: Any) -> Any:
    """Turn NaN into None and numpy scalars into Python numbers, recursively."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class MetricEffect:
    """The effect of one arm (or treatment) on one metric, compared with control.

    Parameters
    ----------
    metric : str
        Metric id (a catalog id or the user's column name).
    arm, control_arm : str
        The compared arm and its control (``"treated"``/``"untreated"`` for quasi designs).
    role : {"primary", "guardrail", "secondary"}
        The metric's role in the initiative.
    kind : {"mean", "proportion", "ratio", "quantile"}
        How the metric is computed per unit (``quantile``: a percentile of the units' values).
    direction : {"higher", "lower"}
        Which way is better.
    unit : str
        Display unit; ``"fraction"`` for rates shown as %.
    control_mean, treatment_mean : float
        Unadjusted metric levels per arm (for quasi designs: counterfactual and observed).
    n_control, n_treatment : int
        Units per arm.
    estimate_abs, estimate_rel : float
        Treatment minus control, absolute and relative to ``control_mean``.
    se_abs, se_rel : float
        Standard errors of the two estimates.
    df : float
        Degrees of freedom of the reference t distribution (``inf`` for normal).
    ci_low, ci_high : float
        Fixed-horizon, unadjusted two-sided ``1 - alpha`` interval, absolute scale.
    ci_rel_low, ci_rel_high : float
        The same interval on the relative scale (delta method).
    p_value : float
        Two-sided p-value of "no difference".
    p_value_adjusted : float
        ``p_value`` adjusted for the metric's family (Holm or Benjamini-Hochberg).
    seq_ci_low, seq_ci_high : float
        Anytime-valid interval, absolute scale (``NaN`` when not computed).
    alpha : float
        Significance level of the intervals and tests.
    margin : float
        Non-inferiority margin (positive; ``NaN`` when none); on the relative scale when
        ``margin_relative`` is true.
    margin_relative : bool
        Whether ``margin`` is a fraction of the control mean.
    p_value_noninferiority : float
        One-sided p-value of "worse by at least the margin" (``NaN`` without margin).
    variance_reduction : float
        Share of the variance removed by CUPED or post-stratification (0.3 = 30%), ``NaN``
        when not applied.
    mde_achieved : float
        Smallest absolute effect detectable with the planned power at the units so far.
    segment : str
        ``"all"`` for the whole population, else the segment label (``"column=value"``).
    label : str
        Human-readable metric name used in sentences (defaults to ``metric``).
    method : str
        Short name of the estimator, e.g. ``"welch"``, ``"welch+cuped"``, ``"welch+poststrat"``, ``"did"``.
    adjusted_for : tuple of str
        The columns the estimate was adjusted for: CUPED's pre-period columns or the
        post-stratification's strata column; empty when unadjusted.
    conditions : tuple of Condition
        Data conditions found for this comparison.
    """

    metric: str
    arm: str
    control_arm: str
    role: Role = "primary"
    kind: Kind = "mean"
    direction: Direction = "higher"
    unit: str = ""
    control_mean: float = math.nan
    treatment_mean: float = math.nan
    n_control: int = 0
    n_treatment: int = 0
    estimate_abs: float = math.nan
    estimate_rel: float = math.nan
    se_abs: float = math.nan
    se_rel: float = math.nan
    df: float = math.inf
    ci_low: float = math.nan
    ci_high: float = math.nan
    ci_rel_low: float = math.nan
    ci_rel_high: float = math.nan
    p_value: float = math.nan
    p_value_adjusted: float = math.nan
    seq_ci_low: float = math.nan
    seq_ci_high: float = math.nan
    alpha: float = 0.05
    margin: float = math.nan
    margin_relative: bool = False
    p_value_noninferiority: float = math.nan
    variance_reduction: float = math.nan
    mde_achieved: float = math.nan
    segment: str = "all"
    label: str = ""
    method: str = "welch"
    adjusted_for: tuple[str, ...] = ()
    conditions: tuple[Condition, ...] = field(default_factory=tuple)

    @classmethod
    def from_fields(cls, values: dict[str, Any]) -> MetricEffect:
        """Build an effect from a mapping that gives every field, without the keyword ``__init__``.

        The result equals ``MetricEffect(**values)``; see :meth:`from_columns` for many at once.

        Raises
        ------
        ValueError
            When ``values`` does not name exactly the fields of :class:`MetricEffect`.
        """
        return _from_columns(cls, "from_fields", {k: (v,) for k, v in values.items()})[0]

    @classmethod
    def from_columns(cls, columns: Mapping[str, Sequence[Any]]) -> tuple[MetricEffect, ...]:
        """Build one effect per row of columns that give every field, in one pass.

        The vectorized engine makes one effect per metric x arm x segment cell, thousands at
        a time; filling each instance's ``__dict__`` from the columns costs a small part of
        the frozen keyword ``__init__`` (which sets the 34 fields one by one). Row ``i``
        equals ``MetricEffect(**{k: v[i] for k, v in columns.items()})``.

        Raises
        ------
        ValueError
            When ``columns`` does not name exactly the fields of :class:`MetricEffect`, or
            the columns differ in length.
        """
        return _from_columns(cls, "from_columns", columns)

    @property
    def name(self) -> str:
        """The metric's display name."""
        return self.label or self.metric.replace("_", " ")

    @property
    def estimable(self) -> bool:
        """Whether an estimate and a fixed-horizon interval exist."""
        return all(math.isfinite(v) for v in (self.estimate_abs, self.ci_low, self.ci_high))

    @property
    def blocking(self) -> tuple[Condition, ...]:
        """Conditions on this comparison that force a decision."""
        return tuple(c for c in self.conditions if c.blocks is not None)

    def conf_int(self, relative: bool = False) -> tuple[float, float]:
        """Return the fixed-horizon interval ``(low, high)``, absolute or relative."""
        return (self.ci_rel_low, self.ci_rel_high) if relative else (self.ci_low, self.ci_high)

    def improvement(self) -> float:
        """Return the absolute effect signed so that positive means better."""
        return self.estimate_abs if self.direction == "higher" else -self.estimate_abs

    def sentence(self) -> str:
        """One plain sentence stating the effect and its fixed-horizon interval."""
        if not self.estimable:
            reason = self.conditions[0].message if self.conditions else "no estimate could be made"
            return f"{self.name} ({self.arm} vs {self.control_arm}): {reason.rstrip('. ')}."
        return (
            f"{self.name} ({self.arm} vs {self.control_arm}): {fmt.level(self.control_mean, self.unit)} -> "
            f"{fmt.level(self.treatment_mean, self.unit)} ({fmt.change(self.estimate_abs, self.unit)}, "
            f"{fmt.confidence(self.alpha)} CI {fmt.interval(self.ci_low, self.ci_high, self.unit)}; "
            f"{fmt.p_value(self.p_value)}, {fmt.p_value(self.p_value_adjusted, label='adjusted p')})"
            + (f"; {self.adjustment_text()}." if math.isfinite(self.variance_reduction) else ".")
        )

    @property
    def adjustment(self) -> str | None:
        """How the estimate was adjusted: ``"cuped"``, ``"post-stratification"`` or None."""
        if not math.isfinite(self.variance_reduction):
            return None
        return "post-stratification" if self.method.endswith("+poststrat") else "cuped"

    def adjustment_text(self) -> str:
        """What the adjustment removed, in words ("" when unadjusted).

        One pre-period column reads "CUPED removed 30% of the variance"; several, or
        strata, name them: "adjusting for tickets before the start and segment removed
        26% of the variance".
        """
        if self.adjustment is None:
            return ""
        removed = f"removed {fmt.percent(self.variance_reduction)} of the variance"
        if self.adjustment == "cuped" and (len(self.adjusted_for) <= 1 or self.kind == "ratio"):
            return f"CUPED {removed}"
        return f"adjusting for {fmt.join([column_words(c) for c in self.adjusted_for])} {removed}"

    def summary(self) -> str:
        """Return a short plain-text summary (the sentence plus conditions)."""
        lines = [self.sentence()]
        if math.isfinite(self.seq_ci_low):
            lines.append(
                f"  Anytime-valid {fmt.confidence(self.alpha)} CI: "
                f"{fmt.interval(self.seq_ci_low, self.seq_ci_high, self.unit)}."
            )
        lines.extend(f"  Note ({c.code}): {c.message}" for c in self.conditions)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Return every field as a JSON-ready mapping (NaN becomes None)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "conditions"}
        out["conditions"] = [c.to_dict() for c in self.conditions]
        return _clean(out)

    def to_entry(self) -> dict[str, Any]:
        """Return the ``results.json`` metric entry (the stable keys first, then details)."""
        keys = (
            "metric", "arm", "role", "estimate_abs", "estimate_rel", "ci_low", "ci_high",
            "p_value", "p_value_adjusted", "seq_ci_low", "seq_ci_high",
            "control_arm", "segment", "kind", "direction", "unit", "control_mean", "treatment_mean",
            "n_control", "n_treatment", "ci_rel_low", "ci_rel_high", "margin", "margin_relative",
            "p_value_noninferiority", "variance_reduction", "mde_achieved", "method", "adjustment",
        )
        entry = {k: getattr(self, k) for k in keys}
        entry["adjusted_for"] = list(self.adjusted_for)
        entry["conditions"] = [c.code for c in self.conditions]
        return _clean(entry)

    def to_frame(self) -> pd.DataFrame:
        """Return a one-row frame of :meth:`to_dict` (conditions as a code list)."""
        row = self.to_dict()
        row["conditions"] = ", ".join(c.code for c in self.conditions)
        return pd.DataFrame([row])


def column_words(column: str) -> str:
    """A unit column in words: ``tickets_pre`` -> "tickets before the start", ``segment`` -> "segment"."""
    before = column.endswith("_pre")
    text = column.removesuffix("_pre").replace("_", " ")
    return f"{text} before the start" if before else text


@dataclass(frozen=True)
class Decision:
    """The one decision for an initiative, with its reason in one plain sentence.

    Parameters
    ----------
    action : {"ship", "keep testing", "stop"}
        What to do.
    reason : str
        One plain sentence, ending with the action.
    arm : str or None
        The arm the decision is about (the arm to ship when ``action == "ship"``).
    codes : tuple of str
        Condition codes that drove the decision (empty when the data decided).
    """

    action: Action
    reason: str
    arm: str | None = None
    codes: tuple[str, ...] = ()

    def summary(self) -> str:
        """Return ``"<ACTION>: <reason>"``."""
        return f"{self.action.upper()}: {self.reason}"

    def grounds(self) -> str:
        """The reason without the action it ends with: what the data showed, for a page that words the action itself."""
        return self.reason.removesuffix(f"; {self.action}.").rstrip(". ") + "."

    def to_dict(self) -> dict[str, Any]:
        """Return the decision as a JSON-ready mapping."""
        return {"action": self.action, "reason": self.reason, "arm": self.arm, "codes": list(self.codes)}


@dataclass(frozen=True)
class SegmentSplit:
    """The sample-ratio check of one segment of the breakdown.

    Parameters
    ----------
    segment : str
        Segment label (``"<column>=<value>"``).
    units : dict of str to int
        Units per arm in the segment.
    p_value : float
        Chi-squared p-value against the planned split; NaN when an arm expects fewer than
        5 units (too few to check).
    p_value_adjusted : float
        Holm-adjusted over the segments checked.
    flagged : bool
        Whether the adjusted p-value is below the SRM threshold.
    """

    segment: str
    units: dict[str, int]
    p_value: float
    p_value_adjusted: float
    flagged: bool

    @classmethod
    def from_columns(cls, columns: Mapping[str, Sequence[Any]]) -> tuple[SegmentSplit, ...]:
        """Build one check per row of columns that give every field (see :meth:`MetricEffect.from_columns`).

        Raises
        ------
        ValueError
            When ``columns`` does not name exactly the fields, or the columns differ in length.
        """
        return _from_columns(cls, "from_columns", columns)

    def to_dict(self) -> dict[str, Any]:
        """Return the check as a JSON-ready mapping."""
        return _clean(
            {
                "segment": self.segment,
                "units": dict(self.units),
                "p_value": self.p_value,
                "p_value_adjusted": self.p_value_adjusted,
                "flagged": bool(self.flagged),
            }
        )


def _from_columns(cls: type[_T], caller: str, columns: Mapping[str, Sequence[Any]]) -> tuple[_T, ...]:
    """Instances of the frozen dataclass ``cls``, one per row of ``columns`` (every field given).

    Each instance's ``__dict__`` is filled directly, which equals the keyword ``__init__``
    for these types (no ``__post_init__``, no defaults left to fill) at a fraction of its cost.
    """
    names = frozenset(f.name for f in fields(cls))  # type: ignore[arg-type]
    if columns.keys() != names:
        raise ValueError(
            f"{cls.__name__}.{caller} needs every field and no other; missing {sorted(names - columns.keys())}, "
            f"unknown {sorted(columns.keys() - names)}"
        )
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"{cls.__name__}.{caller} needs columns of one length, got lengths {sorted(lengths)}")
    keys, new, set_field = tuple(columns), object.__new__, object.__setattr__
    out = []
    for row in zip(*columns.values()):
        item = new(cls)
        set_field(item, "__dict__", dict(zip(keys, row)))
        out.append(item)
    return tuple(out)


@dataclass(frozen=True)
class InitiativeResult:
    """Everything known about one initiative: effects, checks and the decision.

    Parameters
    ----------
    id : str
        Initiative id (``params/initiatives/<id>.yaml``).
    design : {"randomized", "did", "its", "staggered"}
        The design.
    effects : tuple of MetricEffect
        Whole-population effects, one per metric x arm.
    decision : Decision
        The decision from :func:`outcomes.experiment.decision.decide`.
    srm_p_value : float
        Chi-squared p-value of the arm sizes against the planned split (``NaN`` without arms).
    srm_flag : bool
        Whether a sample ratio mismatch was flagged.
    conditions : tuple of Condition
        Initiative-level conditions (SRM, empty arm...).
    segment_effects : tuple of MetricEffect
        Effects per segment (``segment != "all"``), adjusted within metric x arm.
    name : str
        Human-readable name.
    alpha : float
        Significance level used.
    arm_sizes : dict
        Units per arm.
    notes : tuple of str
        Plain sentences about the method (tuning, corrections) for the report.
    segment_splits : tuple of SegmentSplit
        The sample-ratio check of each segment of the breakdown (randomized designs).
    """

    id: str
    design: str
    effects: tuple[MetricEffect, ...]
    decision: Decision
    srm_p_value: float = math.nan
    srm_flag: bool = False
    conditions: tuple[Condition, ...] = ()
    segment_effects: tuple[MetricEffect, ...] = ()
    name: str = ""
    alpha: float = 0.05
    arm_sizes: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    segment_splits: tuple[SegmentSplit, ...] = ()

    @property
    def primary(self) -> tuple[MetricEffect, ...]:
        """Primary-metric effects (one per arm)."""
        return tuple(e for e in self.effects if e.role == "primary")

    @property
    def guardrails(self) -> tuple[MetricEffect, ...]:
        """Guardrail effects."""
        return tuple(e for e in self.effects if e.role == "guardrail")

    @property
    def every_condition(self) -> tuple[Condition, ...]:
        """The initiative's conditions, then those of its effects, each once (in order of first appearance)."""
        seen: dict[tuple[str, str], Condition] = {}
        for c in (*self.conditions, *(c for e in self.effects for c in e.conditions)):
            seen.setdefault((c.code, c.message), c)
        return tuple(seen.values())

    def effect(self, metric: str, arm: str | None = None, segment: str = "all") -> MetricEffect:
        """Return the effect of ``metric`` (for ``arm``; the only arm when ``None``).

        Raises
        ------
        KeyError
            Naming the metrics and arms that exist.
        """
        pool = self.effects if segment == "all" else self.segment_effects
        hits = [e for e in pool if e.metric == metric and e.segment == segment and (arm is None or e.arm == arm)]
        if len(hits) != 1:
            have = sorted({(e.metric, e.arm, e.segment) for e in pool})
            raise KeyError(
                f"initiative {self.id!r}: {len(hits)} effects match metric={metric!r}, arm={arm!r}, "
                f"segment={segment!r}; available (metric, arm, segment): {have}"
            )
        return hits[0]

    def summary(self) -> str:
        """Return a markdown summary: decision, checks, one line per effect, notes."""
        title = self.name or self.id
        decision = f"**Decision: {self.decision.action}.** {self.decision.reason}"
        lines = [f"### {title} ({self.design})", "", decision, ""]
        if self.arm_sizes:
            sizes = ", ".join(f"{arm}: {n:,}" for arm, n in self.arm_sizes.items())
            srm = fmt.p_value(self.srm_p_value, label="SRM p") + (" (flagged)" if self.srm_flag else "")
            lines += [f"Units per arm: {sizes}; {srm}.", ""]
        lines += [f"- {e.role}: {e.sentence()}" for e in self.effects]
        for c in self.conditions:
            lines.append(f"- Note ({c.code}): {c.message}")
        if self.segment_effects:
            lines += ["", f"Segment breakdown ({len(self.segment_effects)} comparisons; see the caveat below):"]
            lines += [f"- [{e.segment}] {e.sentence()}" for e in self.segment_effects]
        lines += ["", *self.notes] if self.notes else []
        return "\n".join(lines)

    def to_frame(self, segments: bool = False) -> pd.DataFrame:
        """Return one row per effect (and per segment effect when ``segments``)."""
        pool = self.effects + (self.segment_effects if segments else ())
        if not pool:
            return pd.DataFrame(columns=[f.name for f in fields(MetricEffect)])
        frame = pd.concat([e.to_frame() for e in pool], ignore_index=True)
        return frame.assign(initiative=self.id, design=self.design)

    def to_dict(self) -> dict[str, Any]:
        """Return the ``results.json`` initiative entry.

        The stable keys are ``id, design, srm_p_value, decision`` (the action string) and
        ``metrics`` (see :meth:`MetricEffect.to_entry`); ``name``, ``srm_flag``,
        ``decision_reason``, ``arm_sizes``, ``conditions``, ``notes``, ``segments`` and
        ``segment_splits`` add detail.
        """
        return _clean(
            {
                "id": self.id,
                "design": self.design,
                "srm_p_value": self.srm_p_value,
                "decision": self.decision.action,
                "metrics": [e.to_entry() for e in self.effects],
                "name": self.name,
                "srm_flag": bool(self.srm_flag),
                "decision_reason": self.decision.reason,
                "decision_arm": self.decision.arm,
                "arm_sizes": dict(self.arm_sizes),
                "conditions": [c.to_dict() for c in self.conditions],
                "notes": list(self.notes),
                "segments": [e.to_entry() for e in self.segment_effects],
                "segment_splits": [x.to_dict() for x in self.segment_splits],
            }
        )


# --------------------------------------------------------------------------- stored form


def result_to_dict(result: InitiativeResult) -> dict[str, Any]:
    """Every field of an initiative result, nested dataclasses as dicts (NaN kept)."""
    return dataclasses.asdict(result)


def result_from_dict(doc: Mapping[str, Any]) -> InitiativeResult:
    """Rebuild an :class:`InitiativeResult` from :func:`result_to_dict`."""

    def conditions(rows: Any) -> tuple[Condition, ...]:
        return tuple(Condition(**c) for c in rows)

    def effects(rows: Any) -> tuple[MetricEffect, ...]:
        return tuple(
            MetricEffect(**{**e, "conditions": conditions(e["conditions"]), "adjusted_for": tuple(e.get("adjusted_for", ()))})
            for e in rows
        )

    decision = dict(doc["decision"])
    return InitiativeResult(
        **{
            **doc,
            "effects": effects(doc["effects"]),
            "segment_effects": effects(doc["segment_effects"]),
            "decision": Decision(**{**decision, "codes": tuple(decision["codes"])}),
            "conditions": conditions(doc["conditions"]),
            "notes": tuple(doc["notes"]),
            "segment_splits": tuple(SegmentSplit(**x) for x in doc.get("segment_splits", ())),
        }
    )


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot store a value of type {type(value).__name__} ({value!r})")


def _write_result(path: Path, result: InitiativeResult) -> None:
    path.write_text(json.dumps(result_to_dict(result), default=_json_default), encoding="utf-8")


def _read_result(path: Path) -> InitiativeResult:
    return result_from_dict(json.loads(path.read_text(encoding="utf-8")))


#: Initiative results, as JSON (NaN and infinity written as such, so they round-trip).
RESULT: Codec[InitiativeResult] = Codec(".json", _write_result, _read_result)

"""The one decision rule: ship, keep testing or stop, with the reason in one sentence.

The same pure function serves randomized and quasi-experimental designs; it only reads
:class:`~outcomes.experiment.results.MetricEffect` fields. The rule, in order:

1. A blocking condition (on the initiative or on the primary metric) decides: ``"stop"``
   conditions (a sample ratio mismatch) beat ``"keep testing"`` ones (an empty arm, too
   few units, zero variance).
2. No estimate of the primary metric: keep testing.
3. The primary effect is *clear* when the chosen interval (anytime-valid when available,
   else fixed-horizon) excludes zero **and** the family-adjusted p-value is below alpha.
   Both must hold, so a result is never called clear when either check says it is not.
4. A clear change for the worse on the primary metric: stop.
5. A guardrail that clearly got worse (same two checks, in its bad direction): stop.
6. A clear gain on the primary metric: ship, unless a guardrail cannot be judged (no
   estimate, a blocking condition) or, when it has a non-inferiority margin, is not yet
   shown to be within it; then keep testing.
7. No clear change: stop when the interval lies inside ``(-mde, +mde)`` (the effect is too
   small to be worth it), else keep testing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal

from outcomes import format as fmt
from outcomes.experiment.results import (
    Condition,
    Decision,
    MetricEffect,
)

Interval = Literal["sequential", "fixed"]


def decision_interval(
    ci_low: float | None,
    ci_high: float | None,
    seq_ci_low: float | None = None,
    seq_ci_high: float | None = None,
    interval: Interval = "sequential",
) -> tuple[float, float, bool]:
    """The interval a decision rests on, from an effect's two intervals.

    Every page quoting an effect beside its decision quotes this interval, so the
    decision and the numbers shown with it always agree.

    Parameters
    ----------
    ci_low, ci_high : float or None
        The fixed-horizon interval.
    seq_ci_low, seq_ci_high : float or None
        The anytime-valid interval (None or NaN when the design has none).
    interval : {"sequential", "fixed"}
        ``"sequential"`` takes the anytime-valid interval when both its bounds are
        finite, else the fixed one.

    Returns
    -------
    tuple of (float, float, bool)
        Low bound, high bound (NaN when missing) and whether they are anytime-valid.
    """
    as_float = lambda x: math.nan if x is None else float(x)  # noqa: E731
    seq_low, seq_high = as_float(seq_ci_low), as_float(seq_ci_high)
    if interval == "sequential" and math.isfinite(seq_low) and math.isfinite(seq_high):
        return seq_low, seq_high, True
    return as_float(ci_low), as_float(ci_high), False


def _bounds(effect: MetricEffect, interval: Interval) -> tuple[float, float, str]:
    """Return the interval used for the decision and its name in sentences."""
    low, high, anytime = decision_interval(
        effect.ci_low, effect.ci_high, effect.seq_ci_low, effect.seq_ci_high, interval
    )
    return low, high, f"{fmt.confidence(effect.alpha)} {'anytime-valid CI' if anytime else 'CI'}"


def _p_for_claims(effect: MetricEffect) -> float:
    """The p-value a claim must pass: adjusted when available, else raw, else none (NaN)."""
    return effect.p_value_adjusted if math.isfinite(effect.p_value_adjusted) else effect.p_value


def clear_direction(effect: MetricEffect, interval: Interval = "sequential") -> int:
    """Return +1 (clearly better), -1 (clearly worse) or 0 (not clear) for one effect.

    Parameters
    ----------
    effect : MetricEffect
        The effect.
    interval : {"sequential", "fixed"}
        Which interval must exclude zero; ``"sequential"`` falls back to the fixed
        interval when the effect has no anytime-valid interval.

    Returns
    -------
    int
        The sign of the improvement when both the interval and the adjusted p-value
        agree that there is a change, else 0.
    """
    if not effect.estimable or effect.blocking:
        return 0
    low, high, _ = _bounds(effect, interval)
    p = _p_for_claims(effect)
    if math.isfinite(p) and p >= effect.alpha:
        return 0
    sign = 1 if low > 0 else -1 if high < 0 else 0
    return sign if effect.direction == "higher" else -sign


def within_margin(effect: MetricEffect, interval: Interval = "sequential") -> bool | None:
    """Whether a guardrail is shown to be no worse than its margin.

    Returns
    -------
    bool or None
        ``None`` when the effect has no margin; with the fixed interval the one-sided
        non-inferiority p-value must be below alpha; with the anytime-valid interval its
        bad-side bound must stay inside the margin.
    """
    if not math.isfinite(effect.margin):
        return None
    if not effect.estimable:
        return False
    if interval == "sequential" and math.isfinite(effect.seq_ci_low):
        low, high = effect.seq_ci_low, effect.seq_ci_high
        if effect.margin_relative:
            base = abs(effect.control_mean)
            low, high = low / base, high / base
        return low > -effect.margin if effect.direction == "higher" else high < effect.margin
    return math.isfinite(effect.p_value_noninferiority) and effect.p_value_noninferiority < effect.alpha


def _clause(effect: MetricEffect, subject: str, interval: Interval) -> str:
    """'<subject> raised <metric> from a to b (+d, 95% CI lo to hi)'."""
    low, high, name = _bounds(effect, interval)
    verb = "raised" if effect.estimate_abs > 0 else "lowered" if effect.estimate_abs < 0 else "left unchanged"
    return (
        f"{subject} {verb} {effect.name} from {fmt.level(effect.control_mean, effect.unit)} to "
        f"{fmt.level(effect.treatment_mean, effect.unit)} ({fmt.change(effect.estimate_abs, effect.unit)}, "
        f"{name} {fmt.interval(low, high, effect.unit)})"
    )


def _guardrail_text(effect: MetricEffect, interval: Interval) -> str:
    """'<metric> (+d, 95% CI lo to hi)'."""
    low, high, name = _bounds(effect, interval)
    return (
        f"{effect.name} ({fmt.change(effect.estimate_abs, effect.unit)}, "
        f"{name} {fmt.interval(low, high, effect.unit)})"
    )


def _margin_text(effect: MetricEffect) -> str:
    """The margin in words."""
    if effect.margin_relative:
        return f"{effect.margin:.1%} of the control level"
    return fmt.change(effect.margin, effect.unit).lstrip("+")


def _default_subject(effect: MetricEffect) -> str:
    """'The portal arm', or 'The initiative' for designs without arms."""
    return "The initiative" if effect.arm == "treated" else f"The {effect.arm} arm"


def from_conditions(conditions: Iterable[Condition], arm: str | None = None) -> Decision | None:
    """Return the decision forced by blocking conditions, if any.

    Parameters
    ----------
    conditions : iterable of Condition
        Conditions; those with ``blocks`` set decide ("stop" beats "keep testing").
    arm : str, optional
        The arm the decision is about.

    Returns
    -------
    Decision or None
        ``None`` when no condition blocks.
    """
    blocking = [c for c in conditions if c.blocks is not None]
    if not blocking:
        return None
    stops = [c for c in blocking if c.blocks == "stop"]
    first = (stops or blocking)[0]
    action = "stop" if stops else "keep testing"
    text = first.message.rstrip(". ")
    return Decision(action, f"{text[:1].upper()}{text[1:]}; {action}.", arm, tuple(c.code for c in blocking))


def decide(
    primary: MetricEffect,
    guardrails: Iterable[MetricEffect] = (),
    conditions: Iterable[Condition] = (),
    *,
    interval: Interval = "sequential",
    mde: float | None = None,
    subject: str | None = None,
) -> Decision:
    """Decide ship / keep testing / stop for one arm (or one treatment) of an initiative.

    Parameters
    ----------
    primary : MetricEffect
        The primary metric's effect.
    guardrails : iterable of MetricEffect
        Guardrail effects for the same arm.
    conditions : iterable of Condition
        Initiative-level conditions (SRM, empty arm, failed placebo...); the primary's own
        conditions are added automatically.
    interval : {"sequential", "fixed"}
        The interval that must exclude zero. ``"sequential"`` (the default, for monthly
        looks) uses the anytime-valid interval when the effect has one, else the fixed one.
    mde : float, optional
        Minimum worthwhile effect on the primary metric (absolute, positive). An
        inconclusive result whose interval lies inside ``(-mde, +mde)`` leads to "stop".
    subject : str, optional
        Sentence subject, e.g. ``"The portal"``; defaults to ``"The <arm> arm"`` or
        ``"The initiative"`` for designs without arms.

    Returns
    -------
    Decision
        The action and one plain sentence ending with it.

    Raises
    ------
    ValueError
        When ``interval`` is not recognised or ``mde`` is not positive.
    """
    if interval not in ("sequential", "fixed"):
        raise ValueError(f"interval must be 'sequential' or 'fixed', got {interval!r}")
    if mde is not None and not (math.isfinite(mde) and mde > 0):
        raise ValueError(f"mde must be a positive number on the metric's scale, got {mde!r}")
    guardrails = tuple(guardrails)
    arm = primary.arm
    subject = subject or _default_subject(primary)

    forced = from_conditions((*conditions, *primary.conditions), arm)
    if forced is not None:
        return forced
    if not primary.estimable:
        return Decision("keep testing", f"No estimate of {primary.name} could be made yet; keep testing.", arm)

    clause = _clause(primary, subject, interval)
    primary_sign = clear_direction(primary, interval)
    if primary_sign < 0:
        return Decision("stop", f"{clause}, a change for the worse; stop.", arm)

    harmed = [g for g in guardrails if clear_direction(g, interval) < 0]
    if harmed:
        texts = " and ".join(_guardrail_text(g, interval) for g in harmed)
        verb = "got" if len(harmed) == 1 else "all got"
        return Decision("stop", f"{clause}; but {texts} {verb} worse; stop.", arm)

    if primary_sign > 0:
        unjudged = [g for g in guardrails if not g.estimable or g.blocking]
        if unjudged:
            names = ", ".join(g.name for g in unjudged)
            return Decision(
                "keep testing",
                f"{clause}; but {names} cannot be judged yet, so harm is not ruled out; keep testing.",
                arm,
                tuple(c.code for g in unjudged for c in g.blocking),
            )
        unproven = [g for g in guardrails if within_margin(g, interval) is False]
        if unproven:
            g = unproven[0]
            return Decision(
                "keep testing",
                f"{clause}; but {_guardrail_text(g, interval)} is not yet shown to be worse by less than "
                f"its margin of {_margin_text(g)}; keep testing.",
                arm,
            )
        tail = "no guardrail got worse" if guardrails else "no guardrail metrics were set"
        return Decision("ship", f"{clause}; {tail}; ship.", arm)

    low, high, _ = _bounds(primary, interval)
    if mde is not None and -mde < low and high < mde:
        return Decision(
            "stop",
            f"{clause}, which rules out an effect as large as the minimum worthwhile "
            f"{fmt.change(mde, primary.unit).lstrip('+')}; stop.",
            arm,
        )
    return Decision("keep testing", f"{clause}, which does not yet rule out no change; keep testing.", arm)


def combine(decisions: Sequence[tuple[MetricEffect, Decision]]) -> Decision:
    """Combine per-arm decisions into the initiative's decision.

    Ship the shippable arm with the largest improvement on the primary metric; otherwise
    keep testing when any arm says so; otherwise stop.

    Parameters
    ----------
    decisions : sequence of (MetricEffect, Decision)
        Each arm's primary effect and decision.

    Returns
    -------
    Decision
        The initiative's decision.

    Raises
    ------
    ValueError
        When ``decisions`` is empty.
    """
    if not decisions:
        raise ValueError("combine needs at least one (effect, decision) pair, got none")
    ships = [(e, d) for e, d in decisions if d.action == "ship"]
    if ships:
        return max(ships, key=lambda pair: pair[0].improvement())[1]
    keep = [d for _, d in decisions if d.action == "keep testing"]
    return keep[0] if keep else decisions[0][1]

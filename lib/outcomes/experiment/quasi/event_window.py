"""Event windows with a placebo: is an outcome more frequent after an event than before it?

Any link "an event is followed by an outcome on the same key within ``w`` days" (a change
followed by an incident on the same configuration item, a release followed by complaints
about the same service, a campaign followed by orders from the same customer) measures
two things at once: what the event adds, and how often the outcome happens on that key
anyway. Keys that get events are rarely typical: items that are changed often are the
ones that break often. The check counts, for every event, whether an outcome on its key
falls in the ``w`` days **after** it and in the ``w`` days **before** it, and reports:

* the after-rate and the before-rate (the placebo: an event cannot cause what came before it);
* their difference, the share of events followed but not preceded minus the reverse, with
  a paired interval over events: the mean of ``d_i = after_i - before_i`` and its normal
  interval, built from sufficient statistics (``n``, ``Σafter``, ``Σbefore``,
  ``Σ after·before``). It equals ``statsmodels.stats.weightstats.DescrStatsW(d).zconfint_mean(alpha)``;
* the background: over keys that never had an event (and had an outcome, the only keys the
  outcome table knows), the share of ``w``-day blocks of the span the events cover that hold
  an outcome.

What the placebo rules out: an after-rate that is only the key's background frequency
(the difference is then near zero). What it does not rule out: events triggered by outcomes
(a change made to fix an incident raises the before-rate and pulls the difference down),
anything else that changes on the key at the event's time, and long-lasting effects
(an outcome more than ``w`` days after the event is in neither window). Windows are
exclusive of the event instant on both sides: ``(t - w, t)`` before and ``(t, t + w]`` after.

Everything row-level (the range joins, the flags, the sums) runs in the engine; only the
sufficient statistics reach Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import ibis
from scipy import stats

from outcomes import format as fmt

#: Returned on :class:`EventWindowCheck` when there is no event to check.
NO_EVENTS = "no event names a key and a time"
_METHOD = "paired difference over events (after minus before), normal interval"


@dataclass(frozen=True)
class EventWindowCheck:
    """Outcomes in the window after each event against the window before it (see module docs).

    Parameters
    ----------
    window_days : int
        Length of each window.
    events : int
        Events with a key and a time.
    after, before, both : int
        Events with an outcome on their key in the window after, before, and in both.
    never_keys : int
        Keys with an outcome and no event (the background's population).
    never_blocks : int
        ``window_days`` blocks of the events' span holding an outcome on those keys.
    blocks : int
        ``window_days`` blocks in the events' span (per key).
    alpha : float
        One minus the confidence level.
    error : str, optional
        Why nothing could be checked (an expected data condition), else ``None``.
    """

    window_days: int
    events: int
    after: int
    before: int
    both: int
    never_keys: int
    never_blocks: int
    blocks: int
    alpha: float = 0.05
    error: str | None = None

    @property
    def after_rate(self) -> float:
        """Share of events followed by an outcome within the window."""
        return self.after / self.events if self.events else math.nan

    @property
    def before_rate(self) -> float:
        """Share of events preceded by an outcome within the window (the placebo)."""
        return self.before / self.events if self.events else math.nan

    @property
    def never_rate(self) -> float:
        """Share of window-length blocks with an outcome, on keys that never had an event."""
        total = self.never_keys * self.blocks
        return self.never_blocks / total if total else math.nan

    @property
    def difference(self) -> float:
        """After-rate minus before-rate (a fraction)."""
        return self.after_rate - self.before_rate

    @property
    def se(self) -> float:
        """Standard error of :attr:`difference`, paired over events (sample variance of ``d_i``)."""
        n = self.events
        if n < 2:
            return math.nan
        sum_d2 = self.after + self.before - 2 * self.both  # d_i is -1, 0 or 1, so d_i^2 = a + b - 2ab
        var = max(sum_d2 - n * self.difference**2, 0.0) / (n - 1)
        return math.sqrt(var / n)

    @property
    def difference_ci(self) -> tuple[float, float]:
        """Normal interval of :attr:`difference` at ``1 - alpha``."""
        half = stats.norm.ppf(1 - self.alpha / 2) * self.se
        return self.difference - half, self.difference + half

    @property
    def method(self) -> str:
        """How the interval is computed, in a few words."""
        return _METHOD

    def sentence(self, *, event: str = "event", outcome: str = "outcome", key: str = "key") -> str:
        """The check in one sentence: both rates, their difference with its interval, the background."""
        if self.error:
            return f"No placebo check: {self.error}."
        low, high = self.difference_ci
        verdict = (
            f"more {outcome}s follow {_article(event)} {event} than precede one"
            if low > 0
            else f"fewer {outcome}s follow {_article(event)} {event} than precede one" if high < 0
            else f"{outcome}s are no more frequent after {_article(event)} {event} than before one"
        )
        background = (
            f"; on {key}s never touched by {_article(event)} {event}, {fmt.percent(self.never_rate, decimals=1)} of "
            f"{self.window_days}-day spans hold one ({self.never_keys:,} {key}s)"
            if self.never_keys else ""
        )
        return (
            f"{fmt.percent(self.after_rate, decimals=1)} of {self.events:,} {event}s are followed within "
            f"{self.window_days} days by {_article(outcome)} {outcome} on the same {key}, and "
            f"{fmt.percent(self.before_rate, decimals=1)} are preceded by one in the {self.window_days} days before: "
            f"a difference of {fmt.pp(self.difference)} ({fmt.confidence(self.alpha)} CI {fmt.pp(low)} to "
            f"{fmt.pp(high)}, paired over {event}s), "
            f"so {verdict}{background}."
        )


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def event_windows(
    events: ibis.Table,
    outcomes: ibis.Table,
    *,
    window_days: int,
    alpha: float = 0.05,
) -> EventWindowCheck:
    """Count outcomes on the same key in the window after and before every event.

    Parameters
    ----------
    events : ibis.Table
        One row per event: ``event_id``, ``key``, ``at`` (timestamp). Rows without a key
        or a time are left out.
    outcomes : ibis.Table
        One row per outcome: ``key``, ``at`` (timestamp), on the same backend.
    window_days : int
        Length of each window, in days (at least 1).
    alpha : float
        One minus the confidence level, in (0, 1).

    Returns
    -------
    EventWindowCheck
        The counts behind both rates, their paired difference and the background;
        ``error`` is set when there is no event.
    """
    if window_days < 1:
        raise ValueError(f"window_days must be at least 1, got {window_days}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), bounds excluded; got {alpha}")
    for name, table, needed in (("events", events, {"event_id", "key", "at"}), ("outcomes", outcomes, {"key", "at"})):
        missing = needed - set(table.columns)
        if missing:
            raise ValueError(f"{name} lacks columns {sorted(missing)}; columns are {list(table.columns)}")
    e = events.filter(events.key.notnull() & events.at.notnull()).select(_eid=events.event_id, _ek=events.key, _et=events.at)
    o = outcomes.filter(outcomes.key.notnull() & outcomes.at.notnull()).select(_ok=outcomes.key, _ot=outcomes.at)
    w = ibis.interval(days=window_days)
    after = e.inner_join(o, [e._ek == o._ok, o._ot > e._et, o._ot <= e._et + w]).select(_aid=e._eid).distinct()
    before = e.inner_join(o, [e._ek == o._ok, o._ot < e._et, o._ot > e._et - w]).select(_bid=e._eid).distinct()
    flagged = e.left_join(after, e._eid == after._aid).left_join(before, e._eid == before._bid)
    flagged = flagged.mutate(_a=flagged._aid.notnull().cast("int64"), _b=flagged._bid.notnull().cast("int64"))
    row = flagged.aggregate(
        n=flagged.count(), a=flagged._a.sum(), b=flagged._b.sum(), ab=(flagged._a * flagged._b).sum()
    ).execute().iloc[0]
    n = int(row["n"])
    if n == 0:
        return EventWindowCheck(window_days, 0, 0, 0, 0, 0, 0, 0, alpha, NO_EVENTS)
    span = e.aggregate(lo=e._et.min().epoch_seconds(), hi=e._et.max().epoch_seconds()).execute().iloc[0]
    lo, hi = int(span["lo"]), int(span["hi"])
    changed = e.select(_ck=e._ek).distinct()
    never = o.left_join(changed, o._ok == changed._ck).filter(lambda x: x._ck.isnull())
    never = never.mutate(_s=never._ot.epoch_seconds().cast("int64"))
    never = never.filter((never._s >= lo) & (never._s <= hi))
    seconds = 86_400 * window_days
    never = never.mutate(_blk=(never._s / seconds).floor().cast("int64"))
    blocks = hi // seconds - lo // seconds + 1
    never_keys = int(never.select("_ok").distinct().count().execute())
    never_blocks = int(never.select("_ok", "_blk").distinct().count().execute())
    return EventWindowCheck(
        window_days=window_days, events=n, after=int(row["a"] or 0), before=int(row["b"] or 0),
        both=int(row["ab"] or 0), never_keys=never_keys, never_blocks=never_blocks,
        blocks=blocks, alpha=alpha,
    )


__all__ = ["NO_EVENTS", "EventWindowCheck", "event_windows"]

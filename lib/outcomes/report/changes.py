"""What changed since the previous published month, and whether the reported month is too old.

The month's index page and the executive summary compare this month's ``results.json``
with the one of the previous published month (``reports/<month>/results.json``, the latest
month before this one that has one): decisions that changed, metrics that crossed their
target, the biggest movers, initiatives added or ended. Each review page compares its own
initiative (:func:`initiative_changes`): its recommendation and its primary effect.
:func:`report_age_warning` says when
a run reports on a month older than the run configuration allows (``max_report_age_months``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outcomes import format as fmt
from outcomes.errors import ReportRunError
from outcomes.metrics import catalog
from outcomes.periods import Month, is_month_text
from outcomes.report.narrative import unit_for_metric

#: The scorecard status of a metric that meets its target.
MET = "on_target"
#: How many movers the comparison names.
TOP_MOVERS = 3


@dataclass(frozen=True)
class MonthChanges:
    """The differences between two months' results, as sentences.

    Attributes
    ----------
    previous : str
        The month compared with, ``YYYY-MM``.
    decisions : tuple of str
        Initiatives whose recommendation (or decision) changed.
    crossed : tuple of str
        Metrics that met their target and now miss it, or the other way round.
    movers : tuple of str
        The metrics that moved most, relative to their level the month compared with.
    added, ended : tuple of str
        Initiatives reported now and not then, and the other way round.
    """

    previous: str
    decisions: tuple[str, ...] = ()
    crossed: tuple[str, ...] = ()
    movers: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    ended: tuple[str, ...] = ()

    def sentences(self) -> list[str]:
        """Every change, decisions first; one sentence when nothing changed."""
        since = Month.parse(self.previous).label
        out = [*self.decisions, *self.crossed, *self.movers]
        if self.added:
            out.append(f"New since {since}: {fmt.join(self.added)}.")
        if self.ended:
            out.append(f"No longer reported since {since}: {fmt.join(self.ended)}.")
        return out or [f"No decision changed and no metric crossed its target since {since}."]


def _metric_name(metric: str) -> str:
    return catalog.get(metric).name if metric in catalog.ids() else catalog.in_words(metric)


def _names(doc: Mapping[str, Any]) -> dict[str, str]:
    return {str(r["initiative"]): str(r["name"]) for r in doc.get("roi", []) if r.get("name")}


def _verdicts(doc: Mapping[str, Any]) -> dict[str, str]:
    """Per initiative: the recommendation the ROI page recorded, else the review's decision."""
    out = {str(i["id"]): str(i["decision"]) for i in doc.get("initiatives", [])}
    out |= {str(r["initiative"]): str(r["recommendation"]) for r in doc.get("roi", []) if r.get("recommendation")}
    return out


def _company_rows(doc: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(r["metric"]): r for r in doc.get("scorecard", []) if r.get("segment") is None}


def _number(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


def compare(previous: Mapping[str, Any], current: Mapping[str, Any], *, top: int = TOP_MOVERS) -> MonthChanges:
    """Compare two months' ``results.json`` documents.

    Parameters
    ----------
    previous, current : mapping
        The documents (``period``, ``scorecard``, ``initiatives`` and ``roi`` are read;
        the current one may lack its ``period`` while the run is still recording it).
    top : int
        How many movers to name.

    Returns
    -------
    MonthChanges
    """
    names = _names(previous) | _names(current)
    then, now = _verdicts(previous), _verdicts(current)
    decisions = tuple(
        f"{names.get(k, k)}: now {now[k]} (was {then[k]})." for k in sorted(set(now) & set(then)) if now[k] != then[k]
    )
    added = tuple(names.get(k, k) for k in sorted(set(now) - set(then)))
    ended = tuple(names.get(k, k) for k in sorted(set(then) - set(now)))
    before, after = _company_rows(previous), _company_rows(current)
    crossed, moves = [], []
    for metric in sorted(set(before) & set(after)):
        old, new = before[metric], after[metric]
        unit = unit_for_metric(metric)
        value, was = _number(new.get("value")), _number(old.get("value"))
        level = fmt.value(value, unit)
        if (old.get("status") == MET) != (new.get("status") == MET) and {old.get("status"), new.get("status")} <= {MET, "off_target"}:
            verb = "now meets" if new.get("status") == MET else "now misses"
            crossed.append(f"{_metric_name(metric)} {verb} its target of {fmt.value(_number(new.get('target')), unit)} ({level}, was {fmt.value(was, unit)}).")
        if value is not None and was is not None and was != 0 and value != was:
            moves.append((abs(value - was) / abs(was), f"{_metric_name(metric)} moved from {fmt.value(was, unit)} to {level}."))
    movers = tuple(text for _, text in sorted(moves, key=lambda m: -m[0])[:top])
    period = str(previous.get("period") or "")
    return MonthChanges(period, decisions, tuple(crossed), movers, added, ended)


def _primary_effects(doc: Mapping[str, Any], key: str) -> dict[tuple[str, str | None], float | None]:
    """The primary metrics' effects of initiative ``key`` in a results document, by (metric, arm)."""
    entry = next((e for e in doc.get("initiatives", []) if str(e["id"]) == key), {})
    return {
        (str(m["metric"]), m.get("arm")): _number(m.get("estimate_abs"))
        for m in entry.get("metrics", []) if m.get("role") == "primary"
    }


def initiative_changes(previous: Mapping[str, Any], current: Mapping[str, Any], key: str) -> list[str]:
    """What changed for one initiative since the previous month: its recommendation and its primary effect.

    Parameters
    ----------
    previous, current : mapping
        The two months' results documents (``period`` of the previous one names it; the
        current one needs only its ``initiatives`` entry and ``roi`` rows).
    key : str
        The initiative's id.

    Returns
    -------
    list of str
        One sentence on the recommendation (changed or kept), one per primary effect that
        both months measured; a single sentence when the previous month did not report it.
    """
    since = Month.parse(str(previous["period"])).label
    then, now = _verdicts(previous).get(key), _verdicts(current).get(key)
    if then is None:
        return [f"Not reported in {since}: this is its first month in the pack."]
    if now is None or now == then:
        out = [f"The recommendation is the same as in {since}: {then}."]
    else:
        out = [f"The recommendation changed since {since}: now {now} (was {then})."]
    before, after = _primary_effects(previous, key), _primary_effects(current, key)
    for (metric, arm), value in after.items():
        was = before.get((metric, arm))
        if value is None or was is None:
            continue
        unit = unit_for_metric(metric)
        where = f" ({arm} arm)" if arm else ""
        size = fmt.value(value, unit, signed=True, change=True)
        old = fmt.value(was, unit, signed=True, change=True)
        verb = "is unchanged at" if size == old else "moved to"
        out.append(f"Effect on {_metric_name(metric).lower()}{where} {verb} {size}" + ("." if size == old else f" (was {old})."))
    return out


def previous_month(reports_dir: str | Path, period: str) -> Path | None:
    """The ``results.json`` of the latest published month before ``period``, if any.

    Parameters
    ----------
    reports_dir : str or Path
        The published reports (``reports/``), one folder per month.
    period : str
        The reported month, ``YYYY-MM``.

    Returns
    -------
    Path or None
    """
    folder = Path(reports_dir)
    if not folder.is_dir():
        return None
    month = Month.parse(period)
    earlier = sorted(
        (Month.parse(p.name), p / "results.json")
        for p in folder.iterdir()
        if is_month_text(p.name) and (p / "results.json").is_file() and Month.parse(p.name) < month
    )
    return earlier[-1][1] if earlier else None


def since_previous(reports_dir: str | Path, period: str, current: Mapping[str, Any]) -> MonthChanges | None:
    """What changed since the previous published month (None when none is published).

    Raises
    ------
    ReportRunError
        When the previous month's ``results.json`` is not JSON (naming the file and what to do).
    """
    path = previous_month(reports_dir, period)
    if path is None:
        return None
    return compare({"period": path.parent.name, **_read(path)}, current)


def _read(path: Path) -> dict[str, Any]:
    """A published month's ``results.json``, or an error naming the file and what to do."""
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as err:
        raise ReportRunError(
            f"{path}: line {err.lineno}: not valid JSON ({err.msg}); the comparison with the previous month reads it. "
            "Restore the file from the month's published pack or run that month again (outcomes run --period "
            f"{path.parent.name})."
        ) from err


def initiative_since_previous(
    reports_dir: str | Path, period: str, key: str, current: Mapping[str, Any]
) -> list[str] | None:
    """What changed for initiative ``key`` since the previous published month (:func:`initiative_changes`).

    Returns None when no earlier month is published.

    Raises
    ------
    ReportRunError
        When the previous month's ``results.json`` is not JSON (naming the file and what to do).
    """
    path = previous_month(reports_dir, period)
    if path is None:
        return None
    return initiative_changes({"period": path.parent.name, **_read(path)}, current, key)


def report_age_warning(period: str, today: dt.date, max_age_months: int) -> str | None:
    """A warning when the reported month is more than ``max_age_months`` before ``today``'s month.

    Parameters
    ----------
    period : str
        The reported month, ``YYYY-MM``.
    today : datetime.date
        The run's date.
    max_age_months : int
        The oldest month a run may report on without a warning (``max_report_age_months``).

    Returns
    -------
    str or None

    Examples
    --------
    >>> report_age_warning("2025-12", dt.date(2026, 12, 6), 2)[:58]
    'This report is on December 2025, 12 months before this run'
    """
    age = Month.of(today) - Month.parse(period)
    if age <= max_age_months:
        return None
    return (
        f"This report is on {Month.parse(period).label}, {age} months before this run ({Month.of(today).label}); "
        f"more than the {max_age_months} months max_report_age_months allows in the run configuration. Newer data "
        "may exist: check the data's last month, or run the last complete month (outcomes run without --period)."
    )

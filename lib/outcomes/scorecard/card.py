"""The joint scorecard: where each metric stands, what moved, what to do, and next month's goals.

Everything here is computed from the panel (:func:`outcomes.metrics.panel.build_panel`), never
from the warehouse: the value this month, last month and the same month last year, the
target (the catalog default unless ``params/targets.yaml`` overrides it), the status
given the metric's better direction, the monthly history for sparklines, the top movers
and the segments their change comes from, prescriptions for metrics off target ranked by
the business value at stake (using the drivers estimates), and a suggested goal for next
month from each metric's trend and month-to-month variability.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import field_validator

from outcomes import config
from outcomes import format as fmt
from outcomes.metrics import catalog
from outcomes.scorecard.drivers import OK, DriversResult
from outcomes.scorecard.xla import Xla
from outcomes.periods import Month, MonthLike
from outcomes.params import Params, load

#: Status codes of a metric against its target (also written to results.json).
ON, OFF, NO_TARGET, NO_DATA, SUPPRESSED = "on_target", "off_target", "no_target", "no_data", "suppressed"
#: The status codes as the scorecard writes them.
STATUS_WORDS: dict[str, str] = {
    ON: "on target", OFF: "off target", NO_TARGET: "no target set", NO_DATA: "no data this month",
    SUPPRESSED: "too few customers to show",
}


#: Where a metric's target comes from, as results.json records it.
TargetBasis = Literal["agreed", "proposed", "default", "none"]
#: How the scorecard labels a target by its basis.
BASIS_WORDS: dict[str, str] = {"agreed": "", "proposed": " (proposed)", "default": " (catalog default)", "none": ""}


class Target(Params):
    """One target with who agreed it.

    Parameters
    ----------
    value : float
        In the metric's stored unit (fractions for rates).
    agreed : bool
        Whether the owner agreed it; ``false`` marks a proposal, labelled as such.
    owner : str, optional
        Who answers for the metric; default the catalog's owner (CIO, CMO or joint).
    """

    value: float
    agreed: bool = True
    owner: str | None = None


class Targets(Params):
    """``params/targets.yaml``: targets overriding the catalog defaults.

    Parameters
    ----------
    targets : dict
        Metric id -> target: a number (an agreed target, in the metric's stored unit) or
        a :class:`Target` (``{value, agreed, owner}``).
    tolerances : dict
        Metric id -> accepted distance from the target, for ``balance`` metrics.
    xla : Xla
        Per-service SLA and experience levels (:mod:`outcomes.scorecard.xla`), read by
        the watermelon check.
    """

    targets: dict[str, float | Target] = {}
    tolerances: dict[str, float] = {}
    xla: Xla = Xla()

    def setting(self, metric_id: str) -> Target | None:
        """The target given for ``metric_id`` in the file, as a :class:`Target` (``None`` when not given)."""
        given = self.targets.get(metric_id)
        return Target(value=given) if isinstance(given, (int, float)) else given

    @field_validator("targets", "tolerances")
    @classmethod
    def _known_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        for mid in value:
            try:
                catalog.get(mid)
            except KeyError as exc:
                raise ValueError(exc.args[0]) from None
        return value


def load_targets(path: str | Path | None = None) -> Targets:
    """Read targets from ``path``; no file at the default place means the catalog defaults.

    ``path`` is relative to the project folder; default the project's ``params/targets.yaml``.
    """
    if path is None:
        path = config.project().params_dir / "targets.yaml"
        if not path.is_file():
            return Targets()
    return load(config.resolve(path), Targets)


def target_of(metric_id: str, targets: Targets | None = None) -> tuple[float | None, float | None]:
    """The target and tolerance of a metric: the override when given, else the catalog default."""
    m = catalog.get(metric_id)
    targets = targets or Targets()
    given = targets.setting(metric_id)
    return (m.target if given is None else given.value), targets.tolerances.get(metric_id, m.tolerance)


def target_basis(metric_id: str, targets: Targets | None = None) -> tuple[TargetBasis, str]:
    """Where a metric's target comes from and who owns the metric.

    Returns
    -------
    tuple
        ``("agreed" | "proposed" | "default" | "none", owner)``: ``default`` is the
        catalog's starting point, not agreed by anyone in the business; the owner is the
        target's ``owner`` when given, else the catalog's.
    """
    m = catalog.get(metric_id)
    given = (targets or Targets()).setting(metric_id)
    if given is not None:
        return ("agreed" if given.agreed else "proposed"), given.owner or m.owner
    return ("default" if m.target is not None else "none"), m.owner


def status_of(metric_id: str, value: float | None, target: float | None, tolerance: float | None = None) -> str:
    """``on_target``, ``off_target``, ``no_target`` or ``no_data``, given the metric's better direction."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NO_DATA
    if target is None or (isinstance(target, float) and math.isnan(target)):
        return NO_TARGET
    m = catalog.get(metric_id)
    if m.direction == "higher_is_better":
        return ON if value >= target else OFF
    if m.direction == "lower_is_better":
        return ON if value <= target else OFF
    return ON if abs(value - target) <= (tolerance or 0.0) else OFF


def _gap(metric_id: str, value: float, target: float, tolerance: float | None) -> float:
    """How far a value is from its target in the worse direction (0 when on target)."""
    m = catalog.get(metric_id)
    if m.direction == "higher_is_better":
        return max(target - value, 0.0)
    if m.direction == "lower_is_better":
        return max(value - target, 0.0)
    return max(abs(value - target) - (tolerance or 0.0), 0.0)


# --------------------------------------------------------------------------- decomposition


def decompose(panel: pd.DataFrame, metric_id: str, period: MonthLike, segment_dim: str) -> pd.DataFrame:
    """Where a change comes from: each segment's contribution to the company change.

    For a ``sum`` metric a segment contributes its own change; for a ``mean`` metric
    (an ``n``-weighted mean of segments) it contributes ``w1 * v1 - w0 * v0`` with ``w`` its
    share of ``n`` (this splits the change into the segment's level and its weight: the
    shift-share identity). The contributions add up to the change of the segments'
    combined value; ``other`` metrics (medians, percentiles) are not additive, so only
    segment changes are shown and ``contribution`` is NULL.

    Parameters
    ----------
    panel : pandas.DataFrame
        Tidy panel with ``segment_dim`` rows.
    metric_id : str
        Metric.
    period : str or date
        Month of the change (compared with the month before).
    segment_dim : str
        Dimension to decompose by.

    Returns
    -------
    pandas.DataFrame
        ``segment``, ``value``, ``previous``, ``change``, ``n``, ``previous_n``,
        ``contribution``, ``share`` (of the summed contributions), sorted by absolute
        contribution (or change).
    """
    m = catalog.get(metric_id)
    month = Month.parse(period)
    now, before = month.timestamp, month.previous().timestamp
    rows = panel[(panel["metric"] == metric_id) & (panel["segment_dim"] == segment_dim)]
    cur = rows[rows["period"] == now].set_index("segment")[["value", "n"]]
    prev = rows[rows["period"] == before].set_index("segment")[["value", "n"]]
    out = cur.join(prev.rename(columns={"value": "previous", "n": "previous_n"}), how="outer")
    out["change"] = out["value"] - out["previous"]
    if m.kind == "sum":
        out["contribution"] = out["value"].fillna(0.0) - out["previous"].fillna(0.0)
    elif m.kind == "mean":
        w1 = out["n"].where(out["value"].notna(), 0.0).fillna(0.0)
        w0 = out["previous_n"].where(out["previous"].notna(), 0.0).fillna(0.0)
        w1 = w1 / w1.sum() if w1.sum() > 0 else w1 * np.nan
        w0 = w0 / w0.sum() if w0.sum() > 0 else w0 * np.nan
        out["contribution"] = w1 * out["value"].fillna(0.0) - w0 * out["previous"].fillna(0.0)
    else:
        out["contribution"] = np.nan
    total = out["contribution"].sum(min_count=1)
    out["share"] = out["contribution"] / total if total and not math.isnan(total) else np.nan
    key = out["contribution"].abs() if m.kind != "other" else out["change"].abs()
    out = out.assign(_k=key.fillna(-1)).sort_values("_k", ascending=False).drop(columns="_k")
    return out.reset_index()[["segment", "value", "previous", "change", "n", "previous_n", "contribution", "share"]]


# --------------------------------------------------------------------------- the scorecard


@dataclass(frozen=True)
class Scorecard:
    """A month's scorecard, computed once and presented many ways.

    Attributes
    ----------
    period : Month
        The month.
    table : pandas.DataFrame
        One row per metric: area, value, previous, last_year, change, target, status, ...
    trend : pandas.DataFrame
        Monthly history per metric (for sparklines), with the target.
    movers : pandas.DataFrame
        The metrics that moved most, standardized by their usual month-to-month change,
        with the segment that drove each.
    prescriptions : pandas.DataFrame
        Metrics off target, ranked by the value at stake, with actions and a sentence.
    goals : pandas.DataFrame
        A suggested goal for next month per metric.
    segment_dim, segment : str
        Which rows of the panel the scorecard describes.
    """

    period: Month
    table: pd.DataFrame
    trend: pd.DataFrame
    movers: pd.DataFrame
    prescriptions: pd.DataFrame
    goals: pd.DataFrame
    segment_dim: str = "all"
    segment: str = "all"

    def by_area(self) -> dict[str, pd.DataFrame]:
        """The table split by measurement area, in catalog area order."""
        return {name: self.table[self.table["area"] == area] for area, name in catalog.load_catalog().areas.items()}

    def formatted(self) -> pd.DataFrame:
        """The table for reading: values in their units (rates in %), one row per metric.

        A target not agreed in ``params/targets.yaml`` says so ("(catalog default)",
        "(proposed)"); a metric off its target names its owner and the catalog's first
        next step.
        """
        t = self.table
        texts = {
            c: [fmt.value(v, catalog.get(m).unit, missing="n/a") for m, v in zip(t["metric"], t[c])]
            for c in ("value", "previous", "last_year", "target")
        }
        texts["target"] = [
            text if text == "n/a" else text + BASIS_WORDS[basis] for text, basis in zip(texts["target"], t["target_basis"])
        ]
        steps = [next_step(m) if status == OFF else "" for m, status in zip(t["metric"], t["status"])]
        return pd.DataFrame(
            {
                "area": [catalog.placed_name(m) for m in t["metric"]],
                "metric": t["name"],
                "this month": texts["value"],
                "last month": texts["previous"],
                "a year ago": texts["last_year"],
                "target": texts["target"],
                "status": t["status"].map(STATUS_WORDS),
                "owner": t["owner"],
                "next step": steps,
            }
        )

    def priority_table(self) -> pd.DataFrame:
        """The prescriptions for reading: rank, metric, value at stake in money, what to do."""
        p = self.prescriptions
        return pd.DataFrame(
            {
                "rank": [str(int(r)) for r in p["rank"]],
                "metric": p["name"],
                "value at stake": [fmt.money(v, missing="not priced") for v in p["value_at_stake_eur"]],
                "what to do": p["sentence"],
            }
        )

    def movers_table(self) -> pd.DataFrame:
        """The month's largest moves for reading: metric and what moved."""
        return pd.DataFrame({"metric": self.movers["name"], "what moved": self.movers["sentence"]})

    def goals_table(self) -> pd.DataFrame:
        """Next month's suggested goals for reading: metric and goal."""
        return pd.DataFrame({"metric": self.goals["name"], "goal for next month": self.goals["sentence"]})

    def sentences(self) -> list[str]:
        """Headline sentences: status count, top movers and top prescriptions."""
        t = self.table
        on, off = int((t["status"] == ON).sum()), int((t["status"] == OFF).sum())
        out = [f"{self.period}: {on} metrics on target, {off} off target."]
        for _, r in self.movers.iterrows():
            out.append(r["sentence"])
        out += list(self.prescriptions["sentence"].head(3))
        return out

    def records(self) -> list[dict[str, Any]]:
        """See :func:`scorecard_records`."""
        return scorecard_records(self)

    def priority_records(self) -> list[dict[str, Any]]:
        """See :func:`priority_records`."""
        return priority_records(self)


#: The next step of an off-target metric whose catalog entry lists no action.
DEFAULT_NEXT_STEP = "Agree the cause and a fix with the owner."


def next_step(metric_id: str) -> str:
    """What to do first about a metric off its target: the catalog's first action, else :data:`DEFAULT_NEXT_STEP`."""
    return (catalog.get(metric_id).actions[:1] or (DEFAULT_NEXT_STEP,))[0]


def _value_at(view: pd.DataFrame, metric: str, when: pd.Timestamp) -> tuple[float, float]:
    row = view[(view["metric"] == metric) & (view["period"] == when)]
    if row.empty:
        return np.nan, np.nan
    return float(row["value"].iloc[0]), float(row["n"].iloc[0]) if pd.notna(row["n"].iloc[0]) else np.nan


def build_scorecard(
    panel: pd.DataFrame,
    period: MonthLike,
    *,
    targets: Targets | str | Path | Mapping[str, float] | None = None,
    drivers: DriversResult | None = None,
    value_per_customer: float | None = None,
    segment_dim: str = "all",
    segment: str = "all",
    top: int = 5,
    goal_months: int = 12,
) -> Scorecard:
    """Build the scorecard of one month from the panel.

    Parameters
    ----------
    panel : pandas.DataFrame
        Tidy panel covering the month, the month before, ideally the same month a year
        earlier and some history (for trends and goals).
    period : str or date
        The month, ``"YYYY-MM"``.
    targets : Targets, path, mapping or None
        Target overrides (default: ``params/targets.yaml`` when present, else the catalog).
    drivers : DriversResult, optional
        Drivers estimates; used to put a value on closing the gap of the driver metric.
    value_per_customer : float, optional
        What one customer kept is worth (see :func:`prescriptions`).
    segment_dim, segment : str
        Which rows to score (the company by default).
    top : int
        Number of top movers.
    goal_months : int
        Months of history behind each goal.

    Returns
    -------
    Scorecard
    """
    month = Month.parse(period)
    now = month.timestamp
    if not isinstance(targets, Targets):
        if targets is None or isinstance(targets, (str, Path)):
            targets = load_targets(targets)
        else:
            targets = Targets(targets=dict(targets))
    view = panel[(panel["segment_dim"] == segment_dim) & (panel["segment"] == segment)]
    if not (view["period"] == now).any():
        months = sorted(pd.to_datetime(panel["period"]).dt.strftime("%Y-%m").unique())
        raise ValueError(
            f"the panel has no {segment_dim}={segment} rows for {month}; it covers {months[:1]}..{months[-1:]}; "
            "rebuild it with an end month that includes the period"
        )
    prev_m, year_m = month.previous().timestamp, (month - 12).timestamp
    rows = []
    for mid in dict.fromkeys(view["metric"]):
        m = catalog.get(mid)
        value, n = _value_at(view, mid, now)
        previous, _ = _value_at(view, mid, prev_m)
        last_year, _ = _value_at(view, mid, year_m)
        target, tolerance = target_of(mid, targets)
        basis, owner = target_basis(mid, targets)
        current = view[(view["metric"] == mid) & (view["period"] == now)].iloc[0]
        status = SUPPRESSED if bool(current["suppressed"]) else status_of(mid, value, target, tolerance)
        rows.append(
            {
                "area": m.area,
                "area_name": catalog.area_name(m.area),
                "metric": mid,
                "name": m.name,
                "unit": m.unit,
                "direction": m.direction,
                "owner": owner,
                "value": value,
                "previous": previous,
                "last_year": last_year,
                "change": value - previous,
                "change_vs_last_year": value - last_year,
                "target": np.nan if target is None else target,
                "tolerance": np.nan if tolerance is None else tolerance,
                "target_basis": basis,
                "status": status,
                "n": n,
                "note": current["note"],
            }
        )
    order = list(catalog.load_catalog().areas)
    table = pd.DataFrame(rows)
    table = table.assign(_a=table["area"].map(order.index)).sort_values("_a", kind="stable").drop(columns="_a")
    table = table.reset_index(drop=True)
    history = view[view["period"] <= now]
    trend = history[["metric", "period", "value"]].merge(table[["metric", "area", "area_name", "name", "target", "unit"]], on="metric")
    return Scorecard(
        period=month,
        table=table,
        trend=trend.reset_index(drop=True),
        movers=top_movers(panel, now, table, history, segment_dim=segment_dim, top=top),
        prescriptions=prescriptions(table, view, now, drivers=drivers, value_per_customer=value_per_customer),
        goals=goals(history, table, months=goal_months),
        segment_dim=segment_dim,
        segment=segment,
    )


def top_movers(
    panel: pd.DataFrame,
    period: pd.Timestamp,
    table: pd.DataFrame,
    history: pd.DataFrame,
    *,
    segment_dim: str = "all",
    top: int = 5,
) -> pd.DataFrame:
    """The metrics that moved most this month, and the segment behind each move.

    A move is scored by ``z = change / sd(month-to-month changes before this month)``,
    so a metric that always swings does not crowd out a quiet one that jumped; without
    three earlier changes (or when they never vary) the relative change is used instead.

    Returns
    -------
    pandas.DataFrame
        ``metric``, ``name``, ``value``, ``previous``, ``change``, ``z``, ``better``,
        ``driver_dim``, ``driver_segment``, ``driver_contribution``, ``driver_share``,
        ``sentence``.
    """
    dims = [d for d in dict.fromkeys(panel["segment_dim"]) if d not in ("all", segment_dim)]
    out = []
    for _, r in table.iterrows():
        if pd.isna(r["change"]) or r["change"] == 0:
            continue
        s = history[history["metric"] == r["metric"]].sort_values("period")
        diffs = s[s["period"] < period]["value"].diff().dropna()
        sd = diffs.std(ddof=1) if len(diffs) >= 3 else np.nan
        scale = 1e-9 * (abs(r["previous"]) + 1.0)
        z = r["change"] / sd if not math.isnan(sd) and sd > scale else np.nan
        out.append({"metric": r["metric"], "name": r["name"], "value": r["value"], "previous": r["previous"], "change": r["change"], "z": z})
    movers = pd.DataFrame(out, columns=["metric", "name", "value", "previous", "change", "z"])
    if movers.empty:
        return movers.assign(better=[], driver_dim=[], driver_segment=[], driver_contribution=[], driver_share=[], sentence=[])
    rel = (movers["change"] / movers["previous"].abs().where(movers["previous"] != 0)).abs()
    movers["_score"] = movers["z"].abs().fillna(rel)
    movers = movers.sort_values("_score", ascending=False).head(top).drop(columns="_score").reset_index(drop=True)
    movers["better"] = [catalog.get(m).better(v, p) for m, v, p in zip(movers["metric"], movers["value"], movers["previous"])]
    drivers_cols: dict[str, list[Any]] = {"driver_dim": [], "driver_segment": [], "driver_contribution": [], "driver_share": []}
    sentences = []
    for _, r in movers.iterrows():
        dim, seg, contrib, share = None, None, np.nan, np.nan
        for d in dims:
            dec = decompose(panel, r["metric"], period, d)
            if not dec.empty and dec["contribution"].notna().any():
                top_row = dec.iloc[0]
                dim, seg, contrib, share = d, top_row["segment"], top_row["contribution"], top_row["share"]
                break
        drivers_cols["driver_dim"].append(dim)
        drivers_cols["driver_segment"].append(seg)
        drivers_cols["driver_contribution"].append(contrib)
        drivers_cols["driver_share"].append(share)
        words = (
            f"{r['name']} {'improved' if r['better'] else 'worsened'} by {fmt.value(r['change'], catalog.get(r['metric']).unit, signed=True, change=True)} "
            f"to {fmt.value(r['value'], catalog.get(r['metric']).unit)}"
        )
        if not math.isnan(r["z"]):
            words += f" ({abs(r['z']):.1f} times its usual monthly change)"
        if seg is not None:
            words += f"; {dim.replace('_', ' ')} {seg} contributed {fmt.value(contrib, catalog.get(r['metric']).unit, signed=True, change=True)}"
            if not math.isnan(share):
                words += f" ({share * 100:.0f}% of the change)"
        sentences.append(words + ".")
    return movers.assign(**drivers_cols, sentence=sentences)


def _latest(view: pd.DataFrame, metric: str, period: pd.Timestamp) -> float:
    value, _ = _value_at(view, metric, period)
    return value


def prescriptions(
    table: pd.DataFrame,
    view: pd.DataFrame,
    period: pd.Timestamp,
    *,
    drivers: DriversResult | None = None,
    value_per_customer: float | None = None,
) -> pd.DataFrame:
    """Metrics off target, ranked by the business value at stake, with actions.

    The value at stake is priced only where the kit has a link to money: closing the gap
    of the drivers model's ``x`` moves churn by ``coef x gap`` (the drivers estimate),
    and a churn gap times active customers is customers lost a month, priced at the
    value of a customer kept: ``value_per_customer`` when given (in a report run, the
    value the ROI page puts on a customer kept, so both pages price a customer alike),
    else the month's customer lifetime value (else 12 months of ARPU). Other gaps are
    stated in their own units and ranked after, by relative gap.

    Returns
    -------
    pandas.DataFrame
        ``rank``, ``metric``, ``name``, ``value``, ``target``, ``gap``, ``customers_at_stake``,
        ``value_at_stake_eur``, ``actions``, ``sentence``.
    """
    active = _latest(view, "active_customers", period)
    clv = _latest(view, "clv", period)
    arpu = _latest(view, "arpu", period)
    per_customer = clv if not math.isnan(clv) else (arpu * 12 if not math.isnan(arpu) else np.nan)
    if value_per_customer is not None and math.isfinite(value_per_customer):
        per_customer = float(value_per_customer)
    rows = []
    for _, r in table[table["status"] == OFF].iterrows():
        mid = r["metric"]
        m = catalog.get(mid)
        gap = _gap(mid, r["value"], r["target"], None if pd.isna(r["tolerance"]) else r["tolerance"])
        churn_delta, links = np.nan, []
        if drivers is not None and mid == drivers.x:
            move = r["target"] - r["value"]
            for e in drivers.estimates:
                if e.status == OK:
                    links.append(f"{fmt.value(e.fit.estimate * move, catalog.get(e.outcome).unit, signed=True, change=True)} {e.outcome.replace('_', ' ')}")
                    if e.outcome == "churn_rate":
                        churn_delta = -e.fit.estimate * move
        elif mid == "churn_rate":
            churn_delta = gap
        customers = churn_delta * active if not math.isnan(active) else np.nan
        eur = customers * per_customer if not math.isnan(customers) else np.nan
        actions = catalog.get(mid).actions
        words = (
            f"{r['name']} is {fmt.value(r['value'], m.unit)} against a target of {fmt.value(r['target'], m.unit)} "
            f"({fmt.value(gap, m.unit, change=True)} off)."
        )
        if links:
            words += f" Closing the gap goes with {' and '.join(links)} (drivers model; an association)."
        if not math.isnan(customers):
            words += f" About {fmt.count(customers)} customers a month at stake"
            words += f", worth about {fmt.money(eur)} in lifetime value." if not math.isnan(eur) else "."
        if actions:
            words += " Actions: " + " ".join(actions[:2])
        rel = gap / abs(r["target"]) if r["target"] else gap
        rows.append(
            {
                "metric": mid,
                "name": r["name"],
                "value": r["value"],
                "target": r["target"],
                "gap": gap,
                "relative_gap": rel,
                "customers_at_stake": customers,
                "value_at_stake_eur": eur,
                "actions": list(actions),
                "sentence": words,
            }
        )
    cols = ["rank", "metric", "name", "value", "target", "gap", "relative_gap", "customers_at_stake", "value_at_stake_eur", "actions", "sentence"]
    if not rows:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(rows)
    out = out.assign(_eur=out["value_at_stake_eur"].fillna(-np.inf)).sort_values(
        ["_eur", "relative_gap"], ascending=[False, False]
    )
    out["rank"] = range(1, len(out) + 1)
    return out[cols].reset_index(drop=True)


def goals(history: pd.DataFrame, table: pd.DataFrame, *, months: int = 12) -> pd.DataFrame:
    """A suggested goal for next month per metric, from its trend and variability.

    The last ``months`` values are fitted with a straight line; the goal is the line's
    forecast for next month, improved by half the residual standard deviation in the
    better direction (a stretch that the month-to-month noise makes reachable), and never
    worse than this month's value. Balance metrics aim halfway from the forecast to the
    target. Rates stay within [0, 1]. At least 4 months are needed.

    Returns
    -------
    pandas.DataFrame
        ``metric``, ``name``, ``value``, ``forecast``, ``sd``, ``goal``, ``target``,
        ``months``, ``sentence``.
    """
    out = []
    for _, r in table.iterrows():
        mid = r["metric"]
        m = catalog.get(mid)
        s = history[history["metric"] == mid].sort_values("period")["value"].dropna().tail(months)
        forecast = sd = goal = np.nan
        if len(s) >= 4 and not pd.isna(r["value"]):
            t = np.arange(len(s), dtype=float)
            slope, intercept = np.polyfit(t, s.to_numpy(dtype=float), 1)
            resid = s.to_numpy(dtype=float) - (intercept + slope * t)
            forecast = intercept + slope * len(s)
            sd = float(np.std(resid, ddof=2)) if len(s) > 2 else 0.0
            if m.direction == "higher_is_better":
                goal = max(forecast + 0.5 * sd, r["value"])
            elif m.direction == "lower_is_better":
                goal = min(forecast - 0.5 * sd, r["value"])
            else:
                goal = forecast + 0.5 * (r["target"] - forecast)
            if m.is_rate:
                goal = float(np.clip(goal, 0.0, 1.0))
        sentence = (
            f"{m.name}: aim for {fmt.value(goal, m.unit)} next month (trend forecast {fmt.value(forecast, m.unit)}, "
            f"typical deviation {fmt.value(sd, m.unit, change=m.is_rate)})."
            if not math.isnan(goal)
            else f"{m.name}: not enough history for a goal."
        )
        out.append({"metric": mid, "name": m.name, "value": r["value"], "forecast": forecast, "sd": sd, "goal": goal,
                    "target": r["target"], "months": len(s), "sentence": sentence})
    return pd.DataFrame(out)


def _clean(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


def scorecard_records(scorecard: Scorecard) -> list[dict[str, Any]]:
    """The scorecard as plain records for ``results.json``.

    Returns
    -------
    list of dict
        ``{metric, segment, value, previous, target, target_basis, owner, status, unit}`` per metric (the
        ``scorecard_row`` of ``results_schema.json``); NaN becomes None and ``segment`` is
        None for the whole business, else ``"<dim>:<segment>"``.
    """
    seg = None if scorecard.segment_dim == "all" else f"{scorecard.segment_dim}:{scorecard.segment}"
    return [
        {
            "metric": r["metric"],
            "segment": seg,
            "value": _clean(r["value"]),
            "previous": _clean(r["previous"]),
            "target": _clean(r["target"]),
            "target_basis": r["target_basis"],
            "owner": r["owner"],
            "status": r["status"],
            "unit": r["unit"],
        }
        for _, r in scorecard.table.iterrows()
    ]


def priority_records(scorecard: Scorecard) -> list[dict[str, Any]]:
    """The off-target metrics, ranked by value at stake, as plain records for ``results.json``.

    Returns
    -------
    list of dict
        ``{rank, metric, value, target, customers_at_stake, value_at_stake_eur, owner,
        next_step}`` per metric off target (the ``priority_row`` of ``results_schema.json``),
        in the order of :attr:`Scorecard.prescriptions`; NaN becomes None.
    """
    owners = scorecard.table.set_index("metric")["owner"]
    return [
        {
            "rank": int(r["rank"]),
            "metric": r["metric"],
            "value": _clean(r["value"]),
            "target": _clean(r["target"]),
            "customers_at_stake": _clean(r["customers_at_stake"]),
            "value_at_stake_eur": _clean(r["value_at_stake_eur"]),
            "owner": str(owners.get(r["metric"], "")),
            "next_step": next_step(r["metric"]),
        }
        for _, r in scorecard.prescriptions.iterrows()
    ]

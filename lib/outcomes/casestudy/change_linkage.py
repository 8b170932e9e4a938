"""Change linkage: deployments followed by tickets on the same configuration item.

A deployment (a change implemented on one configuration item) *is followed by* a ticket
when a ticket on the same item is opened after the deployment and at most
``window_days`` later; a ticket *is preceded by* a change under the same condition.
The share of deployments followed by a ticket is not by itself a change failure rate:
items that are changed often may be the ones that break often. Every rate is therefore
set against its placebo, the same window turned backwards (tickets in the ``window_days``
*before* the deployment, which the deployment cannot have caused), and against items never
changed (:mod:`outcomes.experiment.quasi.event_window`); the finding is the after-minus-before
difference with a paired interval over deployments.

Whether tickets preceded by a change take longer to resolve is estimated within item
types (``ci_type``): for each type, the difference in mean log resolution hours between
preceded and not-preceded tickets; the differences are averaged with weights equal to
each type's share of preceded tickets (the effect on the preceded tickets), and the
variance is the weighted sum of the per-type Welch variances, with Welch-Satterthwaite
degrees of freedom. With one type it is exactly Welch's t interval
(``scipy.stats.ttest_ind(equal_var=False)``). ``exp(estimate)`` is the ratio of geometric
mean resolution times. The comparison is an association: changes are not assigned at
random, and items that are changed often may be the ones that break often. Its placebo
is the same comparison for tickets opened in the window *before* a deployment on their
item; the finding is the after-minus-before difference of the two log comparisons.

Everything row-level runs in the engine (Ibis on DuckDB or Spark): the range join of
deployments to tickets, the flags, and the per-type sufficient statistics
(``n``, sum and sum of squares of log hours). Only aggregates reach pandas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_confint
from outcomes.casestudy.findings import finding

from outcomes import format as fmt
from outcomes.estimate import Estimate
from outcomes.experiment.quasi.event_window import EventWindowCheck, event_windows

#: Returned on :class:`ResolutionEffect` when no item type has two or more tickets in both groups.
NO_COMPARABLE_TYPES = "no item type has at least two resolved tickets both with and without a preceding change"
#: Returned on :class:`ChangeLinkage` when no deployment names a configuration item.
NO_LINKABLE_DEPLOYMENTS = "no deployment names a configuration item and a deployment time"
_METHOD = "Welch differences of log resolution hours within item types, weighted by tickets after a change"
_DIFF_METHOD = "after-change minus before-change log difference, independent normal approximation"
OTHER_TYPES = "other types"
#: Canonical fields the linkage needs (for :func:`outcomes.metrics.support.metric_support`'s ``extra``).
REQUIRES: dict[str, tuple[tuple[str, ...], ...]] = {
    "change_linkage": (
        ("deployments.configuration_item",),
        ("deployments.deployed_at",),
        ("tickets.configuration_item",),
        ("tickets.ci_type",),
    ),
}


@dataclass(frozen=True)
class ResolutionEffect:
    """Difference in mean log resolution hours, preceded by a change minus not, within item types.

    Parameters
    ----------
    fit : Estimate
        Weighted mean of the per-type Welch differences, its standard error, interval and
        Welch-Satterthwaite degrees of freedom (NaN numbers when ``error`` is set).
    n_preceded, n_not_preceded : int
        Resolved tickets in the comparison (types used only).
    types_used, types_dropped : int
        Item types compared, and types left out (fewer than two tickets in a group).
    error : str, optional
        Why there is no estimate (an expected data condition), else ``None``.
    """

    fit: Estimate
    n_preceded: int
    n_not_preceded: int
    types_used: int
    types_dropped: int
    error: str | None = None

    @property
    def ratio(self) -> tuple[float, float, float]:
        """Ratio of geometric mean resolution times and its interval: ``exp`` of the estimate and bounds."""
        return math.exp(self.fit.estimate), math.exp(self.fit.ci_low), math.exp(self.fit.ci_high)

    def sentence(self) -> str:
        """The result in one sentence, stating that it is an association."""
        if self.error:
            return f"No comparison of resolution times: {self.error}."
        ratio, low, high = (100 * (r - 1) for r in self.ratio)
        word = "longer" if ratio >= 0 else "less time"
        return (
            f"Tickets opened after a change on their configuration item took {abs(ratio):.0f}% {word} to resolve "
            f"than tickets on the same type of item without a recent change ({fmt.percent(self.fit.level, exact_digits=True)} CI "
            f"{low:+.0f}% to {high:+.0f}%; {self.n_preceded:,} against {self.n_not_preceded:,} tickets, "
            f"{self.types_used} item types). This is an association, not proof that the changes caused the delay."
        )


def combine_strata(
    n1: np.ndarray,
    s1: np.ndarray,
    q1: np.ndarray,
    n0: np.ndarray,
    s0: np.ndarray,
    q0: np.ndarray,
    *,
    alpha: float = 0.05,
) -> dict[str, np.ndarray]:
    """Welch differences within strata combined with weights of the treated counts, vectorized.

    Every argument is an array whose last axis is the strata (leading axes are independent
    studies, e.g. simulation replicates): counts ``n``, sums ``s`` and sums of squares
    ``q`` of the treated (``1``) and untreated (``0``) units. Strata with fewer than two
    units in a group get weight 0.

    Returns
    -------
    dict of ndarray
        ``estimate``, ``se``, ``df``, ``ci_low``, ``ci_high`` (one per study; NaN when no
        stratum is usable) and ``usable`` (the strata mask).
    """
    n1, s1, q1, n0, s0, q0 = (np.asarray(a, dtype=float) for a in (n1, s1, q1, n0, s0, q0))
    usable = (n1 >= 2) & (n0 >= 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        m1, m0 = s1 / n1, s0 / n0
        v1 = np.maximum(q1 - n1 * m1**2, 0.0) / (n1 - 1)
        v0 = np.maximum(q0 - n0 * m0**2, 0.0) / (n0 - 1)
        w = np.where(usable, n1, 0.0)
        w = w / w.sum(axis=-1, keepdims=True)
        a1 = np.where(usable, w**2 * v1 / n1, 0.0)
        a0 = np.where(usable, w**2 * v0 / n0, 0.0)
        estimate = np.where(usable, w * (m1 - m0), 0.0).sum(axis=-1)
        var = a1.sum(axis=-1) + a0.sum(axis=-1)
        denom = np.where(usable, a1**2 / (n1 - 1) + a0**2 / (n0 - 1), 0.0).sum(axis=-1)
        df = np.where(denom > 0, var**2 / denom, np.inf)
    none = ~usable.any(axis=-1)
    estimate, var = np.where(none, np.nan, estimate), np.where(none, np.nan, var)
    se = np.sqrt(var)
    half = stats.t.ppf(1 - alpha / 2, df) * se
    return {
        "estimate": estimate, "se": se, "df": df, "ci_low": estimate - half, "ci_high": estimate + half, "usable": usable,
    }


def stratified_difference(cells: pd.DataFrame, *, alpha: float = 0.05) -> ResolutionEffect:
    """Welch difference of means within strata, combined with weights of the treated counts.

    Parameters
    ----------
    cells : pandas.DataFrame
        One row per stratum and group: ``stratum``, ``treated`` (bool), ``n``, ``sum``,
        ``sum_squares`` of the outcome.
    alpha : float
        One minus the confidence level, in (0, 1).

    Returns
    -------
    ResolutionEffect
        The combined difference (treated minus untreated, :func:`combine_strata`);
        ``error`` is set when no stratum has at least two units in both groups.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), bounds excluded; got {alpha}")
    missing = {"stratum", "treated", "n", "sum", "sum_squares"} - set(cells.columns)
    if missing:
        raise ValueError(f"cells lack columns {sorted(missing)}; columns are {list(cells.columns)}")
    wide = cells.pivot_table(index="stratum", columns="treated", values=["n", "sum", "sum_squares"], aggfunc="sum")
    wide = wide.reindex(columns=pd.MultiIndex.from_product([["n", "sum", "sum_squares"], [False, True]])).fillna(0.0)
    col = {(k, t): wide[(k, t)].to_numpy(float) for k in ("n", "sum", "sum_squares") for t in (False, True)}
    r = combine_strata(
        col[("n", True)], col[("sum", True)], col[("sum_squares", True)],
        col[("n", False)], col[("sum", False)], col[("sum_squares", False)], alpha=alpha,
    )
    usable = r["usable"]
    if not usable.any():
        return ResolutionEffect(Estimate.missing(_METHOD, level=1 - alpha), 0, 0, 0, len(wide), NO_COMPARABLE_TYPES)
    est, se, df = float(r["estimate"]), float(r["se"]), float(r["df"])
    n_preceded, n_not = int(col[("n", True)][usable].sum()), int(col[("n", False)][usable].sum())
    fit = Estimate(
        estimate=est,
        se=se,
        ci_low=float(r["ci_low"]),
        ci_high=float(r["ci_high"]),
        p_value=float(2 * stats.t.sf(abs(est / se), df)) if se > 0 else math.nan,
        df=df,
        method=_METHOD,
        level=1 - alpha,
        n=n_preceded + n_not,
    )
    return ResolutionEffect(fit, n_preceded, n_not, int(usable.sum()), int((~usable).sum()))


@dataclass(frozen=True)
class ChangeLinkage:
    """Deployments linked to the tickets that follow them on the same configuration item.

    Parameters
    ----------
    window_days : int
        How long after a deployment a ticket counts as following it.
    deployments : int
        Deployments that name a configuration item and a deployment time.
    followed : int
        Of those, deployments followed by at least one ticket within the window.
    tickets : int
        Tickets that name a configuration item.
    preceded : int
        Of those, tickets opened within the window after a deployment on their item.
    by_type : pandas.DataFrame
        Per item type: ``ci_type``, ``deployments``, ``followed``, ``rate``, ``ci_low``,
        ``ci_high`` (Wilson); types with fewer than ``min_deployments`` deployments are
        pooled as ``other types``.
    effect : ResolutionEffect
        Resolution time of preceded against not-preceded tickets, within item types.
    placebo : EventWindowCheck
        The same deployments with the window turned backwards: the share preceded by a
        ticket on their item, the after-minus-before difference with its paired interval,
        and the rate on items never changed
        (:func:`outcomes.experiment.quasi.event_window.event_windows`).
    effect_before : ResolutionEffect
        The resolution-time comparison's placebo: tickets opened within the window
        *before* a deployment on their item against the others, within item types.
    alpha : float
        One minus the confidence level of every interval.
    error : str, optional
        Why nothing could be linked (an expected data condition), else ``None``.
    """

    window_days: int
    deployments: int
    followed: int
    tickets: int
    preceded: int
    by_type: pd.DataFrame
    effect: ResolutionEffect
    placebo: EventWindowCheck
    effect_before: ResolutionEffect
    alpha: float = 0.05
    error: str | None = None

    @property
    def failure_rate(self) -> float:
        """Share of deployments followed by a ticket on the same item within the window."""
        return self.followed / self.deployments if self.deployments else float("nan")

    @property
    def failure_rate_ci(self) -> tuple[float, float]:
        """Wilson interval of :attr:`failure_rate`."""
        if not self.deployments:
            return float("nan"), float("nan")
        low, high = proportion_confint(self.followed, self.deployments, alpha=self.alpha, method="wilson")
        return float(low), float(high)

    def summary(self) -> pd.DataFrame:
        """The headline counts and rates as a two-column table (``measure``, ``value``)."""
        low, high = self.failure_rate_ci
        plow, phigh = self.placebo.difference_ci
        rows = [
            ("Window after and before a deployment (days)", f"{self.window_days}"),
            ("Deployments (change-and-item pairs) on a configuration item", f"{self.deployments:,}"),
            ("... followed by a ticket on the same item", f"{self.followed:,}"),
            ("... share followed (not a failure rate on its own)", f"{100 * self.failure_rate:.1f}% (CI {100 * low:.1f}%-{100 * high:.1f}%)"),
            ("... preceded by a ticket on the same item (placebo)", f"{self.placebo.before:,} ({100 * self.placebo.before_rate:.1f}%)"),
            ("Followed minus preceded (paired over deployments)", f"{fmt.pp(self.placebo.difference)} (CI {fmt.pp(plow)} to {fmt.pp(phigh)})"),
            (
                f"Items never changed: share of {self.window_days}-day spans with a ticket",
                f"{100 * self.placebo.never_rate:.1f}% ({self.placebo.never_keys:,} items)",
            ),
            ("Tickets on a configuration item", f"{self.tickets:,}"),
            ("... opened after a deployment on the same item", f"{self.preceded:,}"),
        ]
        return pd.DataFrame(rows, columns=["measure", "value"])

    @property
    def resolution_difference(self) -> Estimate:
        """After-change minus before-change difference of the log resolution-time comparisons.

        ``exp`` of it is the ratio of the two geometric-mean ratios. The standard error
        treats the two comparisons as independent (``sqrt(se_after**2 + se_before**2)``,
        normal interval); a ticket can sit in both windows, so it is approximate.
        """
        a, b = self.effect, self.effect_before
        if a.error or b.error:
            return Estimate.missing(_DIFF_METHOD, level=1 - self.alpha)
        est = a.fit.estimate - b.fit.estimate
        se = math.sqrt(a.fit.se**2 + b.fit.se**2)
        half = stats.norm.ppf(1 - self.alpha / 2) * se
        return Estimate(
            estimate=est, se=se, ci_low=est - half, ci_high=est + half,
            p_value=float(2 * stats.norm.sf(abs(est / se))) if se > 0 else math.nan, df=math.inf,
            method=_DIFF_METHOD, level=1 - self.alpha, n=a.fit.n,
        )

    def sentences(self) -> list[str]:
        """Plain-language findings: the after-window against the before-window, for both measures."""
        if self.error:
            return [f"No change linkage: {self.error}."]
        out = [
            self.placebo.sentence(event="change-item pair", outcome="incident", key="configuration item")
            + " Only the difference is what changes may add; the after-rate alone is not a change failure rate."
        ]
        a, b, d = self.effect, self.effect_before, self.resolution_difference
        if a.error or b.error:
            out.append(a.sentence() if a.error else b.sentence())
            return out
        out.append(
            f"Incidents opened within {self.window_days} days after a change on their item took {_longer(a.fit.estimate)} "
            f"to resolve than incidents on the same type of item without a change in those days; incidents opened within "
            f"{self.window_days} days before a change took {_longer(b.fit.estimate)} (placebo). After against before: "
            f"{_longer(d.estimate)} ({fmt.percent(d.level, exact_digits=True)} CI {_pct(d.ci_low):+.0f}% to "
            f"{_pct(d.ci_high):+.0f}%; geometric means within item types, {a.n_preceded:,} incidents after and "
            f"{b.n_preceded:,} before a change). An association: changes are not assigned at random."
        )
        return out

    def findings(self, dataset: str) -> list[dict]:
        """Rows for the ``findings`` section of ``results.json``: after-minus-before differences.

        The incident rate is in percentage points (``pp``), the resolution time in % (ratio of
        the after- and before-change ratios, minus one).
        """

        if self.error:
            return []
        p = self.placebo
        low, high = p.difference_ci
        sentences = self.sentences()
        rows = [
            finding(
                section="itsm", dataset=dataset, metric="change_incidents_after_minus_before",
                label=(
                    f"Change lines followed by an incident on the same item within {self.window_days} days, "
                    f"minus those preceded by one (placebo)"
                ),
                estimate=100 * p.difference, ci_low=100 * low, ci_high=100 * high, unit="pp", better="lower",
                n=p.events, sentence=sentences[0],
            )
        ]
        d = self.resolution_difference
        if not math.isnan(d.estimate):
            rows.append(
                finding(
                    section="itsm", dataset=dataset, metric="resolution_after_minus_before_change",
                    label="Resolution time of incidents after a change against incidents before one (same item type)",
                    estimate=100 * (math.exp(d.estimate) - 1), ci_low=100 * (math.exp(d.ci_low) - 1),
                    ci_high=100 * (math.exp(d.ci_high) - 1), unit="%", better="lower",
                    n=self.effect.n_preceded + self.effect_before.n_preceded, sentence=sentences[1],
                )
            )
        return rows


def _pct(log_ratio: float) -> float:
    """A log ratio as a % change."""
    return 100 * (math.exp(log_ratio) - 1)


def _longer(log_ratio: float) -> str:
    """A log ratio of times in words: "41% longer", "6% less time"."""
    p = _pct(log_ratio)
    return f"{abs(p):.0f}% longer" if p >= 0 else f"{abs(p):.0f}% less time"


def _hours(start: ibis.Value, stop: ibis.Value) -> ibis.Value:
    seconds = stop.epoch_seconds().cast("int64") - start.epoch_seconds().cast("int64")
    return seconds.cast("float64") / 3600.0


def link_changes(
    con: ibis.BaseBackend,
    *,
    window_days: int = 7,
    min_deployments: int = 30,
    alpha: float = 0.05,
) -> ChangeLinkage:
    """Link deployments to the tickets opened on the same configuration item soon after.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse, with ``deployments`` and ``tickets`` holding ``configuration_item``
        (and ``ci_type`` for the per-type results).
    window_days : int
        A ticket opened more than 0 and at most ``window_days`` days after a deployment
        on its item follows it.
    min_deployments : int
        Item types with fewer deployments are pooled in ``by_type``.
    alpha : float
        One minus the confidence level.

    Returns
    -------
    ChangeLinkage
        Counts, the linked change failure rate, per-type rates and the resolution-time
        comparison; ``error`` is set when no deployment can be linked.
    """
    if window_days < 1:
        raise ValueError(f"window_days must be at least 1, got {window_days}")
    if min_deployments < 1:
        raise ValueError(f"min_deployments must be at least 1, got {min_deployments}")
    d = con.table("deployments")
    d = d.filter(d.configuration_item.notnull() & d.deployed_at.notnull()).select(
        _did=d.deployment_id, _ci=d.configuration_item, _at=d.deployed_at,
        _type=d.ci_type.fill_null("unknown"),
    )
    t = con.table("tickets")
    t = t.filter(t.configuration_item.notnull()).select(
        "ticket_id", "configuration_item", "opened_at", "resolved_at", ci_type=t.ci_type.fill_null("unknown")
    )
    pairs = d.inner_join(
        t,
        [
            d._ci == t.configuration_item,
            t.opened_at > d._at,
            t.opened_at <= d._at + ibis.interval(days=window_days),
        ],
    )
    followed_ids = pairs.select(_fid=pairs._did).distinct()
    flagged = d.left_join(followed_ids, d._did == followed_ids._fid).mutate(
        _followed=lambda x: x._fid.notnull().cast("int64")
    )
    per_type = flagged.group_by(ci_type=flagged._type).aggregate(
        deployments=flagged.count(), followed=flagged._followed.sum()
    ).execute()
    preceded_ids = pairs.select(_pid=pairs.ticket_id).distinct()
    before_pairs = d.inner_join(
        t,
        [
            d._ci == t.configuration_item,
            t.opened_at < d._at,
            t.opened_at > d._at - ibis.interval(days=window_days),
        ],
    )
    counts = t.aggregate(tickets=t.count()).execute().iloc[0]
    effect, n_preceded = _effect(t, preceded_ids, alpha)
    effect_before, _ = _effect(t, before_pairs.select(_pid=before_pairs.ticket_id).distinct(), alpha)
    placebo = event_windows(
        d.select(event_id=d._did, key=d._ci, at=d._at),
        t.select(key=t.configuration_item, at=t.opened_at),
        window_days=window_days,
        alpha=alpha,
    )
    n_deploy = int(per_type["deployments"].sum()) if len(per_type) else 0
    n_followed = int(per_type["followed"].sum()) if len(per_type) else 0
    return ChangeLinkage(
        window_days=window_days,
        deployments=n_deploy,
        followed=n_followed,
        tickets=int(counts["tickets"]),
        preceded=n_preceded,
        by_type=_by_type(per_type, min_deployments, alpha),
        effect=effect,
        placebo=placebo,
        effect_before=effect_before,
        alpha=alpha,
        error=None if n_deploy else NO_LINKABLE_DEPLOYMENTS,
    )


def _effect(t: ibis.Table, treated_ids: ibis.Table, alpha: float) -> tuple[ResolutionEffect, int]:
    """Resolution time of the tickets in ``treated_ids`` (column ``_pid``) against the others, within item types."""
    tt = t.left_join(treated_ids, t.ticket_id == treated_ids._pid)
    tt = tt.mutate(treated=tt._pid.notnull(), _h=_hours(tt.opened_at, tt.resolved_at))
    n_treated = int(tt.aggregate(n=tt.treated.cast("int64").sum()).execute()["n"].iloc[0] or 0)
    resolved = tt.filter(tt._h > 0).mutate(_y=lambda x: x._h.ln())
    cells = resolved.group_by(stratum=resolved.ci_type, treated=resolved.treated).aggregate(
        n=resolved.count(), sum=resolved._y.sum(), sum_squares=(resolved._y * resolved._y).sum()
    ).execute()
    return stratified_difference(cells, alpha=alpha), n_treated


def _by_type(per_type: pd.DataFrame, min_deployments: int, alpha: float) -> pd.DataFrame:
    """Per-type rates with Wilson intervals; small types pooled."""
    columns = ["ci_type", "deployments", "followed", "rate", "ci_low", "ci_high"]
    if per_type.empty:
        return pd.DataFrame(columns=columns)
    frame = per_type.astype({"deployments": "int64", "followed": "int64"})
    small = frame["deployments"] < min_deployments
    frame.loc[small, "ci_type"] = OTHER_TYPES
    frame = frame.groupby("ci_type", as_index=False)[["deployments", "followed"]].sum()
    frame["rate"] = frame["followed"] / frame["deployments"]
    low, high = proportion_confint(frame["followed"], frame["deployments"], alpha=alpha, method="wilson")
    frame["ci_low"], frame["ci_high"] = np.asarray(low, float), np.asarray(high, float)
    return frame.sort_values("deployments", ascending=False, ignore_index=True)[columns]


__all__ = ["REQUIRES", "ChangeLinkage", "ResolutionEffect", "combine_strata", "link_changes", "stratified_difference"]

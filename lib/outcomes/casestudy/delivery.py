"""Delivery: how late deliveries go with customer satisfaction, and what fewer would be worth.

The inputs are canonical tables: ``orders`` with a promised delivery deadline
(``promised_at``) and a delivery time (``delivered_at``), ``customer_surveys`` answers
that name their order (``order_id``), and ``customers`` for the region. An order is
*late* when it reached the customer after the deadline; its *days late* count the
started days past the deadline (0 when on time). The pipeline, one step per function:

1. :func:`order_outcomes` builds, in the engine, one row per delivered order with a survey
   answer: the score (the mean of the order's answers), the late flag, days late and
   the controls (log order value, shipping share of the order, items, category, region,
   month). No ids leave the engine.
2. :func:`punctuality` aggregates those rows in the engine: orders, mean score and the
   share of top scores (4-5 on the 1-5 CSAT scale, "top-2 box") on time vs late, the same
   by days-late bucket, and the score distribution, with Wilson intervals for shares and
   t intervals for means; groups under ``min_group`` orders are suppressed.
   :func:`status_coverage` counts orders, answers and mean score per order status, so the
   orders that never arrived are visible too.
3. :func:`fit_effect` regresses the score on one driver column (the late flag, days late)
   with numeric controls and fixed effects by OLS (statsmodels), with
   heteroskedasticity-robust (HC1) or cluster-robust standard errors;
   :func:`fit_late_effects` fits the unadjusted gap, the adjusted gap and the slope per
   day late.
4. :func:`value_of_fewer_late` prices cutting the late share from one level to another at
   a stated value per review point; the value is linear in the effect, so its interval is
   the effect's interval carried through exactly.
5. :func:`findings` turns the results into rows of the ``findings`` results section.

The orders were not late at random: sellers, carriers, regions and seasons that deliver
late may also disappoint in other ways. The controls remove what they measure, not the
rest, so every estimate here is an association unless a randomized or quasi-experimental
design backs it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
from ibis import _
import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from outcomes import format as fmt
from outcomes.estimate import Estimate
from outcomes.casestudy.findings import finding

#: Status codes of an estimate (expected data conditions, returned rather than raised).
OK = "ok"
INSUFFICIENT_DATA = "insufficient_data"
NO_VARIATION = "no_variation_in_driver"

#: Canonical fields the analysis rests on, for :func:`outcomes.metrics.support.metric_support` ``extra``.
REQUIRES: dict[str, tuple[tuple[str, ...], ...]] = {
    "late delivery vs survey score": (
        ("orders.promised_at",),
        ("orders.delivered_at",),
        ("customer_surveys.order_id",),
        ("customer_surveys.score",),
    ),
    "category fixed effects": (("orders.category",),),
    "shipping share control": (("orders.shipping_fee",),),
}

#: Columns of :func:`order_outcomes`.
ORDER_COLUMNS = [
    "score", "answers", "late", "days_late", "order_value", "log_order_value", "shipping_share", "items",
    "category", "region", "month",
]

CAVEAT = (
    "This is an association, not a proven cause: orders are not late at random, and what makes an order late "
    "(a seller, a carrier, a remote region, a busy season) may also lower its score in ways the controls do not capture."
)


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), bounds excluded; got {alpha}")


# --------------------------------------------------------------------------- engine
def order_outcomes_expr(con: ibis.BaseBackend, *, kind: str = "csat") -> ibis.Table:
    """The order-level rows of :func:`order_outcomes`, as an unexecuted Ibis expression.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse (:func:`outcomes.warehouse.store.connect`).
    kind : {"csat", "nps"}
        Which survey question's answers are the outcome.

    Returns
    -------
    ibis.Table
        One row per delivered order that has a deadline and at least one answer, with the
        columns of :data:`ORDER_COLUMNS`.
    """
    orders = con.table("orders")
    surveys = con.table("customer_surveys")
    customers = con.table("customers")
    answers = (
        surveys.filter((surveys.kind == kind) & surveys.order_id.notnull())
        .group_by("order_id")
        .aggregate(score=_.score.mean(), answers=_.count())
    )
    delivered = orders.filter(orders.delivered_at.notnull() & orders.promised_at.notnull())
    joined = delivered.inner_join(answers, "order_id").left_join(
        customers.select(customer_id=customers.customer_id, region=customers.region), "customer_id"
    )
    days_past = (joined.delivered_at.epoch_seconds() - joined.promised_at.epoch_seconds()) / 86400.0
    late = days_past > 0
    paid = joined.revenue + joined.shipping_fee
    return joined.select(
        score=joined.score,
        answers=joined.answers,
        late=late,
        days_late=ibis.ifelse(late, days_past.ceil(), 0).cast("int64"),
        order_value=joined.revenue,
        log_order_value=(joined.revenue + 1.0).ln(),
        shipping_share=ibis.ifelse(paid > 0, joined.shipping_fee / paid, ibis.null("float64")),
        items=joined.items,
        category=joined.category.fill_null("unknown"),
        region=joined.region.fill_null("unknown"),
        month=joined.ordered_at.strftime("%Y-%m"),
    )


def order_outcomes(con: ibis.BaseBackend, *, kind: str = "csat") -> pd.DataFrame:
    """One row per delivered order with a survey answer: score, lateness and controls.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse.
    kind : {"csat", "nps"}
        Which survey question's answers are the outcome.

    Returns
    -------
    pandas.DataFrame
        The columns of :data:`ORDER_COLUMNS` (no ids): ``score`` (mean of the order's
        answers), ``answers``, ``late`` (bool), ``days_late`` (started days past the
        deadline, 0 when on time), ``order_value``, ``log_order_value`` (``ln(1 + value)``),
        ``shipping_share`` (shipping fee over value plus fee), ``items``, ``category`` and
        ``region`` (``unknown`` when empty) and ``month`` (``YYYY-MM`` of ordering).
    """
    frame = order_outcomes_expr(con, kind=kind).execute()
    frame["late"] = frame["late"].astype(bool)
    return frame[ORDER_COLUMNS]


def _bucket_labels(edges: Sequence[int]) -> list[str]:
    labels = ["on time"]
    lows = [1, *(e + 1 for e in edges[:-1])]
    for low, high in zip(lows, edges, strict=True):
        labels.append(f"{low} day{'s' if high > 1 else ''} late" if low == high else f"{low}-{high} days late")
    labels.append(f"over {edges[-1]} days late")
    return labels


def _bucket_expr(days_late: ibis.Value, edges: Sequence[int]) -> ibis.Value:
    labels = _bucket_labels(edges)
    branches = [(days_late <= 0, labels[0])]
    branches += [(days_late <= e, label) for e, label in zip(edges, labels[1:-1], strict=True)]
    return ibis.cases(*branches, else_=labels[-1])


def _group_stats(expr: ibis.Table, by: str, top_box: float) -> pd.DataFrame:
    return (
        expr.group_by(by)
        .aggregate(
            orders=_.count(),
            mean_score=_.score.mean(),
            sd_score=_.score.std(),
            top_box=(_.score >= top_box).cast("int64").sum(),
        )
        .execute()
    )


def _with_intervals(frame: pd.DataFrame, alpha: float, min_group: int) -> pd.DataFrame:
    out = frame.copy()
    n = out["orders"].astype(float)
    half = stats.t.ppf(1 - alpha / 2, np.maximum(n - 1, 1)) * out["sd_score"] / np.sqrt(n)
    out["mean_low"], out["mean_high"] = out["mean_score"] - half, out["mean_score"] + half
    out["top_box_share"] = out["top_box"] / n
    low, high = proportion_confint(out["top_box"], out["orders"], alpha=alpha, method="wilson")
    out["top_box_low"], out["top_box_high"] = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    out["suppressed"] = out["orders"] < min_group
    shown = ["mean_score", "mean_low", "mean_high", "top_box_share", "top_box_low", "top_box_high", "top_box"]
    out.loc[out["suppressed"], shown] = np.nan
    return out.drop(columns=["sd_score"])


@dataclass(frozen=True)
class Punctuality:
    """Scores of on-time and late orders, aggregated in the engine.

    Parameters
    ----------
    by_status : pandas.DataFrame
        One row per ``status`` (``on time``, ``late``): ``orders``, ``mean_score`` with
        ``mean_low``/``mean_high`` (t interval), ``top_box`` (orders scoring at least
        ``top_box_from``), ``top_box_share`` with ``top_box_low``/``top_box_high`` (Wilson),
        ``suppressed``.
    by_bucket : pandas.DataFrame
        The same per days-late ``bucket``, in bucket order.
    distribution : pandas.DataFrame
        ``status``, ``score`` (rounded), ``orders`` and ``share`` of the status's orders.
    top_box_gap : tuple of float
        Late minus on-time top-box share: estimate, low, high (Newcombe hybrid score interval).
    top_box_from : float
        Lowest score counted as satisfied (4 on the 1-5 CSAT scale).
    alpha : float
        1 - confidence level.
    """

    by_status: pd.DataFrame
    by_bucket: pd.DataFrame
    distribution: pd.DataFrame
    top_box_gap: tuple[float, float, float]
    top_box_from: float
    alpha: float

    @property
    def orders(self) -> int:
        """Delivered orders with an answer."""
        return int(self.by_status["orders"].sum())

    @property
    def late_orders(self) -> int:
        """Of which late."""
        return int(self.by_status.loc[self.by_status["status"] == "late", "orders"].sum())

    def late_share(self) -> tuple[float, float, float]:
        """Share of the orders delivered late: estimate, low, high (Wilson)."""
        if self.orders == 0:
            return (math.nan, math.nan, math.nan)
        low, high = proportion_confint(self.late_orders, self.orders, alpha=self.alpha, method="wilson")
        return (self.late_orders / self.orders, float(low), float(high))

    def row(self, status: str) -> pd.Series | None:
        """The ``by_status`` row of ``status`` (None when no order has it)."""
        rows = self.by_status[self.by_status["status"] == status]
        return rows.iloc[0] if len(rows) else None

    def table(self) -> pd.DataFrame:
        """``by_status`` and ``by_bucket`` for display: group, orders, mean score, top-box share, intervals."""
        cols = ["orders", "mean_score", "mean_low", "mean_high", "top_box_share", "top_box_low", "top_box_high"]
        a = self.by_status.rename(columns={"status": "group"})[["group", *cols]]
        b = self.by_bucket.rename(columns={"bucket": "group"})[["group", *cols]]
        b = b[b["group"] != "on time"]
        out = pd.concat([a, b], ignore_index=True)
        out["orders"] = out["orders"].astype(int)
        return out

    #: Units of :meth:`table`'s columns, for ``report.table``.
    TABLE_UNITS = {
        "orders": "count", "mean_score": "points", "mean_low": "points", "mean_high": "points",
        "top_box_share": "fraction", "top_box_low": "fraction", "top_box_high": "fraction",
    }

    def mean_score(self) -> float:
        """Mean score of every delivered order with an answer (NaN without any)."""
        rows = self.by_status.dropna(subset=["mean_score"])
        weights = rows["orders"].to_numpy(dtype=float)
        return float(np.average(rows["mean_score"], weights=weights)) if weights.sum() else math.nan

    def population_sentence(self, population: str) -> str:
        """What the orders represent, with their count and mean score, so no reader takes them for all orders.

        Parameters
        ----------
        population : str
            Which orders the data hold, in words (e.g. "orders whose review has a written
            comment, not all orders").
        """
        return (
            f"The data represent {population}: {self.orders:,} delivered orders with a score, mean score "
            f"{self.mean_score():.2f}. Shares and gaps below describe these orders; carrying them to all orders "
            "is an assumption, stated where it is made."
        )

    def sentences(self, population: str = "") -> list[str]:
        """The comparison in words, after what the orders represent when ``population`` is given."""
        on, late = self.row("on time"), self.row("late")
        if on is None or late is None or bool(on["suppressed"]) or bool(late["suppressed"]):
            return ["Too few on-time or late orders with an answer to compare."]
        share, lo, hi = self.late_share()
        lvl = fmt.confidence(self.alpha)
        gap, glo, ghi = self.top_box_gap
        top = f"{self.top_box_from:g}" if self.top_box_from == int(self.top_box_from) else f"{self.top_box_from}"
        return [self.population_sentence(population)] * bool(population) + [
            f"{self.late_orders:,} of {self.orders:,} delivered orders with a score arrived after the promised date "
            f"({share:.1%}, {lvl} CI {lo:.1%} to {hi:.1%}).",
            f"Mean score: {on['mean_score']:.2f} on time vs {late['mean_score']:.2f} late. Satisfied (score {top} or more): "
            f"{on['top_box_share']:.1%} on time vs {late['top_box_share']:.1%} late, a gap of {gap * 100:+.1f} pp "
            f"({lvl} CI {glo * 100:+.1f} to {ghi * 100:+.1f} pp).",
        ]


def punctuality(
    con: ibis.BaseBackend,
    *,
    kind: str = "csat",
    top_box_from: float = 4,
    bucket_edges: Sequence[int] = (1, 3, 7, 14),
    min_group: int = 10,
    alpha: float = 0.05,
) -> Punctuality:
    """Orders, mean score and share of satisfied answers on time vs late and by days late.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse.
    kind : {"csat", "nps"}
        Which survey question.
    top_box_from : float
        Lowest score counted as satisfied: 4 on the 1-5 CSAT scale (9 for NPS promoters).
    bucket_edges : sequence of int
        Upper ends (inclusive, in days late) of the late buckets: ``(1, 3, 7, 14)`` gives
        1 day, 2-3, 4-7, 8-14 and over 14 days late.
    min_group : int
        Groups with fewer orders keep their count but show no score (suppressed).
    alpha : float
        1 - confidence level.

    Returns
    -------
    Punctuality
        The aggregates; every group comes from one query in the engine.
    """
    _check_alpha(alpha)
    edges = [int(e) for e in bucket_edges]
    if not edges or edges[0] < 1 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"bucket_edges must be increasing whole days of at least 1; got {list(bucket_edges)}")
    expr = order_outcomes_expr(con, kind=kind)
    expr = expr.mutate(status=ibis.ifelse(expr.late, "late", "on time"), bucket=_bucket_expr(expr.days_late, edges))
    by_status = _with_intervals(_group_stats(expr, "status", top_box_from), alpha, min_group)
    by_status = by_status.set_index("status").reindex(["on time", "late"]).dropna(subset=["orders"]).reset_index()
    by_status["orders"] = by_status["orders"].astype(int)
    order = {label: i for i, label in enumerate(_bucket_labels(edges))}
    by_bucket = _with_intervals(_group_stats(expr, "bucket", top_box_from), alpha, min_group)
    by_bucket = by_bucket.sort_values("bucket", key=lambda s: s.map(order)).reset_index(drop=True)
    dist = (
        expr.mutate(score=expr.score.round().cast("int64"))
        .group_by(["status", "score"])
        .aggregate(orders=_.count())
        .execute()
    )
    dist["share"] = dist["orders"] / dist.groupby("status")["orders"].transform("sum")
    small = dist.groupby("status")["orders"].transform("sum") < min_group
    dist.loc[small, "share"] = np.nan
    dist = dist.sort_values(["status", "score"], ascending=[False, True]).reset_index(drop=True)
    gap = (math.nan, math.nan, math.nan)
    rows = by_status.set_index("status")
    if {"on time", "late"} <= set(rows.index) and not rows["suppressed"].any():
        late, on = rows.loc["late"], rows.loc["on time"]
        low, high = confint_proportions_2indep(
            int(late["top_box"]), int(late["orders"]), int(on["top_box"]), int(on["orders"]), method="newcomb", alpha=alpha
        )
        gap = (float(late["top_box_share"] - on["top_box_share"]), float(low), float(high))
    return Punctuality(by_status, by_bucket, dist, gap, float(top_box_from), alpha)


def status_coverage(con: ibis.BaseBackend, *, kind: str = "csat", min_group: int = 10) -> pd.DataFrame:
    """Per order status: orders, orders with a deadline and a delivery, with an answer, and their mean score.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse.
    kind : {"csat", "nps"}
        Which survey question.
    min_group : int
        Statuses with fewer answers show no mean score.

    Returns
    -------
    pandas.DataFrame
        ``status`` (``unknown`` when empty), ``orders``, ``delivered``, ``with_deadline``,
        ``answered``, ``mean_score``, largest first.
    """
    orders = con.table("orders")
    surveys = con.table("customer_surveys")
    answers = (
        surveys.filter((surveys.kind == kind) & surveys.order_id.notnull())
        .group_by("order_id")
        .aggregate(score=_.score.mean())
    )
    j = orders.left_join(answers, "order_id")
    out = (
        j.group_by(status=j.status.fill_null("unknown"))
        .aggregate(
            orders=_.count(),
            delivered=_.delivered_at.count(),
            with_deadline=_.promised_at.count(),
            answered=_.score.count(),
            mean_score=_.score.mean(),
        )
        .execute()
    )
    out.loc[out["answered"] < min_group, "mean_score"] = np.nan
    counts = ["orders", "delivered", "with_deadline", "answered"]
    out[counts] = out[counts].fillna(0).astype(int)
    return out.sort_values("orders", ascending=False).reset_index(drop=True)


# --------------------------------------------------------------------------- model
@dataclass(frozen=True)
class Effect:
    """The change in the outcome that goes with the driver, from one OLS fit.

    Parameters
    ----------
    driver : str
        Driver column (``late``: the gap late vs on time; ``days_late``: per day late).
    label : str
        The fit in words (``with controls``, ``unadjusted``...).
    fit : Estimate
        The driver's coefficient (score points per unit of the driver) with its robust
        standard error and interval; ``method`` is ``HC1`` or ``cluster:<column>``, ``n``
        the orders in the fit, ``conditions`` the status code when it was not estimable.
    n_exposed : int
        Orders with a non-zero driver (the late ones).
    formula : str
        The statsmodels formula fitted.
    """

    driver: str
    label: str
    fit: Estimate
    n_exposed: int
    formula: str

    @property
    def status(self) -> str:
        """``ok``, ``insufficient_data`` or ``no_variation_in_driver``."""
        return self.fit.conditions[0] if self.fit.conditions else OK

    @property
    def estimable(self) -> bool:
        """Whether the fit produced an estimate."""
        return self.status == OK


def model_frame(
    frame: pd.DataFrame,
    *,
    outcome: str = "score",
    driver: str = "late",
    controls: Sequence[str] = (),
    fixed_effects: Sequence[str] = (),
    cluster: str | None = None,
    min_level_size: int = 10,
) -> pd.DataFrame:
    """The rows and columns :func:`fit_effect` fits: complete rows, rare levels pooled.

    Parameters
    ----------
    frame : pandas.DataFrame
        Order-level rows (:func:`order_outcomes`).
    outcome, driver : str
        Outcome and driver columns; a boolean driver becomes 0/1.
    controls : sequence of str
        Numeric control columns.
    fixed_effects : sequence of str
        Category columns entered as fixed effects; levels with fewer than
        ``min_level_size`` rows are pooled into one level ``other``.
    cluster : str, optional
        Column whose groups are the clusters.
    min_level_size : int
        See ``fixed_effects``.

    Returns
    -------
    pandas.DataFrame
        Those columns only, rows with a missing value dropped.
    """
    cols = list(dict.fromkeys([outcome, driver, *controls, *fixed_effects, *([cluster] if cluster else [])]))
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise KeyError(f"columns {missing} not in the frame; columns in the frame: {list(frame.columns)}")
    data = frame[cols].dropna().copy()
    data[driver] = data[driver].astype(float)
    for fe in fixed_effects:
        values = data[fe].astype(str)
        counts = values.map(values.value_counts())
        data[fe] = values.where(counts >= min_level_size, "other")
    return data.reset_index(drop=True)


def effect_formula(outcome: str, driver: str, controls: Sequence[str] = (), fixed_effects: Sequence[str] = ()) -> str:
    """The statsmodels formula of :func:`fit_effect`: ``outcome ~ driver + controls + C(fixed effects)``."""
    terms = [driver, *controls, *(f"C({fe})" for fe in fixed_effects)]
    return f"{outcome} ~ " + " + ".join(terms)


def fit_effect(
    frame: pd.DataFrame,
    *,
    outcome: str = "score",
    driver: str = "late",
    controls: Sequence[str] = (),
    fixed_effects: Sequence[str] = (),
    cluster: str | None = None,
    min_level_size: int = 10,
    alpha: float = 0.05,
    label: str = "",
) -> Effect:
    """OLS of the outcome on the driver with controls and fixed effects, robust standard errors.

    Parameters
    ----------
    frame : pandas.DataFrame
        Order-level rows (:func:`order_outcomes`), or any frame with these columns.
    outcome : str
        Outcome column (the survey score).
    driver : str
        Driver column: a flag (late) or a number (days late).
    controls : sequence of str
        Numeric control columns, entered linearly.
    fixed_effects : sequence of str
        Category columns entered as fixed effects (one dummy per level but the first);
        rare levels pooled (:func:`model_frame`).
    cluster : str, optional
        Cluster-robust standard errors by this column (with the small-sample correction
        and t on clusters - 1 degrees of freedom); default heteroskedasticity-robust HC1.
    min_level_size : int
        Fixed-effect levels with fewer rows are pooled into ``other``.
    alpha : float
        1 - confidence level.
    label : str
        The fit in words, kept on the result.

    Returns
    -------
    Effect
        The driver's coefficient with its interval. Fewer than two orders on either side
        of a 0/1 driver, or no more orders than parameters, come back as
        ``insufficient_data``; a driver that does not vary, ``no_variation_in_driver``.
    """
    _check_alpha(alpha)
    data = model_frame(
        frame, outcome=outcome, driver=driver, controls=controls, fixed_effects=fixed_effects, cluster=cluster,
        min_level_size=min_level_size,
    )
    formula = effect_formula(outcome, driver, controls, fixed_effects)
    cov_name = f"cluster:{cluster}" if cluster else "HC1"
    exposed = int((data[driver] != 0).sum())

    def empty(status: str) -> Effect:
        fit = Estimate.missing(cov_name, level=1 - alpha, n=len(data), conditions=(status,))
        return Effect(driver, label, fit, exposed, formula)

    if data[driver].nunique() < 2:
        return empty(NO_VARIATION)
    n_params = 1 + 1 + len(controls) + sum(data[fe].nunique() - 1 for fe in fixed_effects)
    binary = set(data[driver].unique()) <= {0.0, 1.0}
    if (binary and (exposed < 2 or len(data) - exposed < 2)) or len(data) <= n_params:
        return empty(INSUFFICIENT_DATA)
    model = smf.ols(formula, data=data)
    if cluster:
        groups = pd.factorize(data[cluster])[0]
        fit = model.fit(cov_type="cluster", cov_kwds={"groups": groups, "use_correction": True, "df_correction": True}, use_t=True)
    else:
        fit = model.fit(cov_type="HC1")
    return Effect(driver, label, Estimate.from_statsmodels(fit, driver, alpha=alpha, method=cov_name), exposed, formula)


@dataclass(frozen=True)
class LateEffects:
    """The late-delivery fits: the raw gap, the gap with controls, and the slope per day late.

    Parameters
    ----------
    unadjusted, adjusted, per_day : Effect
        Score on the late flag alone; on the late flag with the controls and fixed
        effects; among late orders up to ``max_days_late`` days late, on days late with
        the same controls (how the score falls with each further day).
    controls, fixed_effects : tuple of str
        What the adjusted fits hold fixed.
    max_days_late : int or None
        The per-day slope's window: late orders later than this are left out of it (a
        straight line through a long, flat tail of very late orders understates the slope
        of the first weeks). None: every late order.
    late_beyond : int
        Late orders left out of the per-day slope (later than ``max_days_late``).
    longest_delay : float
        The longest delay among the late orders, in days (NaN without late orders).
    """

    unadjusted: Effect
    adjusted: Effect
    per_day: Effect
    controls: tuple[str, ...]
    fixed_effects: tuple[str, ...]
    max_days_late: int | None = None
    late_beyond: int = 0
    longest_delay: float = math.nan

    def held(self) -> str:
        """What the adjusted fits hold fixed, in words (``nothing`` when no control is used)."""
        parts = list(self.controls)
        if self.fixed_effects:
            parts.append(", ".join(self.fixed_effects) + " fixed effects")
        return fmt.join(parts, empty="nothing")

    def window(self) -> str:
        """The per-day slope's window in words (``1-30 days late`` or ``any delay``)."""
        return "any delay" if self.max_days_late is None else f"1-{self.max_days_late} days late"

    def display_frame(self) -> pd.DataFrame:
        """The fits for a page: coefficients to three significant digits, p-values in words, whole counts.

        Returns
        -------
        pandas.DataFrame
            ``fit``, ``score change (points)``, ``95% CI``, ``p-value``, ``orders``,
            ``of which late``, ``standard errors``, ``status``; every number already text,
            so no table rounds a slope of -0.05 points to ``-0.0``.
        """
        lvl = fmt.percent(self.adjusted.fit.level, exact_digits=True)
        rows = []
        for e in (self.unadjusted, self.adjusted, self.per_day):
            f = e.fit
            unit = "points per day" if e.driver == "days_late" else "points"
            rows.append({
                "fit": e.label,
                f"score change ({unit.split(' ', 1)[0]})": fmt.significant(f.estimate, 3, missing="–"),
                f"{lvl} CI": (
                    f"{fmt.significant(f.ci_low, 3)} to {fmt.significant(f.ci_high, 3)}" if e.estimable else "–"
                ),
                "p-value": fmt.p_value(f.p_value, label="p", missing="–") if e.estimable else "–",
                "orders": f"{f.n:,}",
                "of which late": f"{e.n_exposed:,}",
                "unit": unit,
                "standard errors": f.method,
                "status": e.status.replace("_", " "),
            })
        return pd.DataFrame(rows)

    def to_frame(self) -> pd.DataFrame:
        """One row per fit: label, driver, coefficient, standard error, interval, p-value, sizes, status."""
        return pd.DataFrame(
            [
                {
                    "label": e.label, "driver": e.driver, "coef": e.fit.estimate, "se": e.fit.se, "ci_low": e.fit.ci_low,
                    "ci_high": e.fit.ci_high, "p_value": e.fit.p_value, "n": e.fit.n, "n_exposed": e.n_exposed,
                    "cov_type": e.fit.method, "status": e.status,
                }
                for e in (self.unadjusted, self.adjusted, self.per_day)
            ]
        )

    def sentences(self) -> list[str]:
        """The fits in words, with the association caveat."""
        out = []
        a, u, d = self.adjusted, self.unadjusted, self.per_day
        lvl = fmt.percent(a.fit.level, exact_digits=True)
        if a.estimable:
            held = self.held()
            raw = f" (unadjusted: {u.fit.estimate:+.2f})" if u.estimable else ""
            out.append(
                f"A late delivery goes with a score {a.fit.estimate:+.2f} points{raw} "
                f"({lvl} CI {a.fit.ci_low:+.2f} to {a.fit.ci_high:+.2f}), holding {held} fixed; "
                f"{a.fit.n:,} orders, {a.n_exposed:,} late, {a.fit.method} standard errors."
            )
        else:
            out.append(f"The late-delivery gap could not be estimated ({a.status.replace('_', ' ')}).")
        if d.estimable:
            out.append(
                f"Among the {d.fit.n:,} orders {self.window()}, each further day late goes with {d.fit.estimate:+.3f} points "
                f"({lvl} CI {d.fit.ci_low:+.3f} to {d.fit.ci_high:+.3f}), a straight-line summary across those delays."
                + self.tail_sentence()
            )
        out.append(CAVEAT)
        return out

    def tail_sentence(self) -> str:
        """What the per-day window leaves out, as a sentence starting with a space (empty when nothing)."""
        if self.max_days_late is None or self.late_beyond == 0:
            return ""
        return (
            f" The {self.late_beyond:,} orders later than {self.max_days_late} days (up to {self.longest_delay:,.0f} days) "
            "are left out of the slope: their scores are already near the floor, so a straight line through them "
            "would flatten it."
        )

    def summary(self) -> str:
        """A plain-text table of the fits followed by the sentences."""
        return self.to_frame().to_string(index=False, float_format=lambda v: f"{v:.4g}") + "\n\n" + "\n".join(self.sentences())


def fit_late_effects(
    frame: pd.DataFrame,
    *,
    controls: Sequence[str] = ("log_order_value", "shipping_share", "items"),
    fixed_effects: Sequence[str] = ("category", "region", "month"),
    cluster: str | None = None,
    min_level_size: int = 10,
    alpha: float = 0.05,
    max_days_late: int | None = 30,
) -> LateEffects:
    """Fit the unadjusted and adjusted late-delivery gaps and the slope per day late.

    Parameters
    ----------
    frame : pandas.DataFrame
        Order-level rows (:func:`order_outcomes`).
    controls, fixed_effects, cluster, min_level_size, alpha
        As in :func:`fit_effect`; the unadjusted fit uses none of the controls. The fits
        use the rows complete on every control; the per-day fit only the late ones.
    max_days_late : int or None
        The per-day slope uses late orders up to this many days late (default 30): a
        few orders months late, whose scores cannot fall further, would flatten a
        straight line fitted through every delay. None: every late order.

    Returns
    -------
    LateEffects
        The three fits, and how many late orders the per-day window leaves out.
    """
    if max_days_late is not None and max_days_late < 1:
        raise ValueError(f"max_days_late must be a whole number of days >= 1, or None for every delay; got {max_days_late}")
    controls, fixed_effects = tuple(controls), tuple(fixed_effects)
    rows = frame.dropna(subset=["score", "late", "days_late", *controls, *fixed_effects, *([cluster] if cluster else [])])
    common = dict(cluster=cluster, min_level_size=min_level_size, alpha=alpha)
    late = rows[rows["late"].astype(bool)]
    in_window = late if max_days_late is None else late[late["days_late"] <= max_days_late]
    return LateEffects(
        unadjusted=fit_effect(rows, driver="late", label="unadjusted", **common),
        adjusted=fit_effect(rows, driver="late", controls=controls, fixed_effects=fixed_effects, label="with controls", **common),
        per_day=fit_effect(
            in_window, driver="days_late", controls=controls, fixed_effects=fixed_effects,
            label="per day late, late orders" + ("" if max_days_late is None else f" up to {max_days_late} days"), **common,
        ),
        controls=controls,
        fixed_effects=fixed_effects,
        max_days_late=max_days_late,
        late_beyond=len(late) - len(in_window),
        longest_delay=float(late["days_late"].max()) if len(late) else math.nan,
    )


# --------------------------------------------------------------------------- value
@dataclass(frozen=True)
class LatenessValue:
    """What a lower late share is worth a year, with the effect's interval carried through.

    Parameters
    ----------
    orders_per_year : float
        Orders delivered a year.
    late_share_from, late_share_to : float
        Late share today and in the scenario (fractions).
    value_per_point : float
        Value of one review point on one order (an assumption, in ``currency``): the
        middle of the stated range.
    currency : str
        Unit of the value.
    orders_on_time : float
        Orders a year that would arrive on time instead of late.
    points, points_low, points_high : float
        Review points gained a year (orders on time instead of late times the score gap),
        with the interval from the effect's.
    value, value_low, value_high : float
        ``points * value_per_point``, and its range: the effect's interval times the
        low and the high end of the value per point.
    effect : Effect
        The late-delivery effect used.
    status : str
        ``ok``, or the effect's status when it could not be estimated.
    value_per_point_low, value_per_point_high : float
        The stated range of the value of one review point (equal for a single value).
    value_source : str
        Where the value per point comes from, in words (shown with it).
    population : str
        Which orders ``orders_per_year`` counts, and the assumption that carries the
        measured gap and late share over to them (shown with the value).
    """

    orders_per_year: float
    late_share_from: float
    late_share_to: float
    value_per_point: float
    currency: str
    orders_on_time: float
    points: float
    points_low: float
    points_high: float
    value: float
    value_low: float
    value_high: float
    effect: Effect
    status: str = OK
    value_per_point_low: float = math.nan
    value_per_point_high: float = math.nan
    value_source: str = ""
    population: str = ""

    def per_point_text(self) -> str:
        """The assumed value of a review point in words: ``0.80 to 3.20 BRL`` or ``1.60 BRL``."""
        low, high = self.value_per_point_low, self.value_per_point_high
        if math.isfinite(low) and math.isfinite(high) and low != high:
            return f"{low:,.2f} to {high:,.2f} {self.currency}"
        return f"{self.value_per_point:,.2f} {self.currency}"

    def sentence(self) -> str:
        """The scenario and its value in words, with every assumption it rests on."""
        if self.status != OK:
            return f"The value of fewer late deliveries could not be estimated ({self.status.replace('_', ' ')})."
        lvl = fmt.percent(self.effect.fit.level, exact_digits=True)
        who = f" ({self.population})" if self.population else ""
        source = f" ({self.value_source})" if self.value_source else ""
        return (
            f"Cutting late deliveries from {self.late_share_from:.1%} to {self.late_share_to:.1%} of "
            f"{self.orders_per_year:,.0f} orders a year{who} puts about {fmt.rounded(self.orders_on_time)} more orders on time, "
            f"worth about {fmt.rounded(self.points)} review points a year ({lvl} CI {fmt.rounded(self.points_low)} to "
            f"{fmt.rounded(self.points_high)}). "
            f"At an assumed {self.per_point_text()} per review point{source} that is {self.value_text()}, "
            "only if the association were causal."
        )

    def value_text(self) -> str:
        """The yearly value in words: a rounded range when the value per point is a range, else the figure and its interval."""
        cur = self.currency
        if self.value_per_point_low != self.value_per_point_high:
            return (
                f"{fmt.rounded(self.value_low)} to {fmt.rounded(self.value_high)} {cur} a year (the score gap's "
                "interval times the range of the value per point)"
            )
        return f"{self.value:,.0f} {cur} a year ({self.value_low:,.0f} to {self.value_high:,.0f})"


def value_of_fewer_late(
    effect: Effect,
    *,
    orders_per_year: float,
    late_share_to: float,
    value_per_point: float | Sequence[float],
    late_share_from: float | None = None,
    currency: str = "BRL",
    value_source: str = "",
    population: str = "",
) -> LatenessValue:
    """Price a lower late share: orders moved on time x score gap x value per review point.

    Parameters
    ----------
    effect : Effect
        The late-delivery effect on the score (negative when late orders score lower).
    orders_per_year : float
        Orders delivered a year (positive).
    late_share_to : float
        Late share in the scenario, a fraction in [0, 1].
    value_per_point : float or (low, high)
        Value of one review point on one order, in ``currency``: an assumption the caller
        states, best as a range ``[low, high]`` (the value's range then spans it; the
        middle of the range gives the central figure).
    late_share_from : float, optional
        Late share today; default the share of late orders in the effect's fit
        (``n_exposed / n``).
    currency : str
        Unit of ``value_per_point``.
    value_source : str
        Where the value per point comes from, shown with it.
    population : str
        Which orders ``orders_per_year`` counts and the assumption that carries the gap
        measured on the data over to them, shown with the value.

    Returns
    -------
    LatenessValue
        ``points = orders_per_year * (late_share_from - late_share_to) * -effect.fit.estimate``;
        the points are linear in the effect, so their interval is the effect's interval
        carried through exactly; the value's range multiplies the points' interval by the
        low and high value per point.

    Raises
    ------
    ValueError
        When a share, the orders or the value per point is out of range.
    """
    if orders_per_year <= 0:
        raise ValueError(f"orders_per_year must be positive; got {orders_per_year}")
    per_low, per_high = _per_point_range(value_per_point)
    per_mid = (per_low + per_high) / 2
    stated = dict(value_per_point_low=per_low, value_per_point_high=per_high, value_source=value_source, population=population)
    shares = [("late_share_to", late_share_to)] + ([("late_share_from", late_share_from)] if late_share_from is not None else [])
    for name, share in shares:
        if not 0 <= share <= 1:
            raise ValueError(f"{name} must be a fraction in [0, 1]; got {share}")
    nan = math.nan
    if not effect.estimable:
        share_from = nan if late_share_from is None else late_share_from
        return LatenessValue(
            orders_per_year, share_from, late_share_to, per_mid, currency, nan, nan, nan, nan, nan, nan, nan,
            effect, effect.status, **stated,
        )
    if late_share_from is None:
        late_share_from = effect.n_exposed / effect.fit.n
    moved = orders_per_year * (late_share_from - late_share_to)
    points = moved * -effect.fit.estimate
    p_low, p_high = sorted((moved * -effect.fit.ci_high, moved * -effect.fit.ci_low))
    return LatenessValue(
        orders_per_year=orders_per_year,
        late_share_from=late_share_from,
        late_share_to=late_share_to,
        value_per_point=per_mid,
        currency=currency,
        orders_on_time=moved,
        points=points,
        points_low=p_low,
        points_high=p_high,
        value=points * per_mid,
        value_low=min(p_low * per_low, p_low * per_high),
        value_high=max(p_high * per_low, p_high * per_high),
        effect=effect,
        **stated,
    )


def _per_point_range(value_per_point: float | Sequence[float]) -> tuple[float, float]:
    """``(low, high)`` of a value per review point given as one number or as ``[low, high]``."""
    values = [value_per_point] if isinstance(value_per_point, (int, float)) else list(value_per_point)
    if len(values) not in (1, 2) or not all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in values):
        raise ValueError(
            f"value_per_point must be a number >= 0 or a range [low, high] of two such numbers; got {value_per_point!r}"
        )
    low, high = values[0], values[-1]
    if low > high:
        raise ValueError(f"value_per_point range [{low}, {high}] must be [low, high] with low <= high; swap the two")
    return float(low), float(high)


# --------------------------------------------------------------------------- findings
def findings(
    summary: Punctuality, effects: LateEffects, value: LatenessValue, *, dataset: str, section: str = "delivery"
) -> list[dict]:
    """Rows of the ``findings`` results section: late share, satisfied shares, the gaps, the value.

    Parameters
    ----------
    summary : Punctuality
        From :func:`punctuality`.
    effects : LateEffects
        From :func:`fit_late_effects`.
    value : LatenessValue
        From :func:`value_of_fewer_late`.
    dataset : str
        The dataset's folder name.
    section : str
        The findings section.

    Returns
    -------
    list of dict
        Checked rows; estimates that could not be made are left out.
    """
    rows = []
    lvl = fmt.confidence(summary.alpha)
    top = f"{summary.top_box_from:g}"
    common = dict(section=section, dataset=dataset)
    share, lo, hi = summary.late_share()
    if summary.orders:
        rows.append(finding(
            **common, metric="late_share", label="Orders delivered after the promised date", estimate=share * 100,
            ci_low=lo * 100, ci_high=hi * 100, unit="%", better="lower", n=summary.orders,
            sentence=f"{share:.1%} of delivered orders arrived after the promised date ({lvl} CI {lo:.1%} to {hi:.1%}).",
        ))
    for status in ("on time", "late"):
        r = summary.row(status)
        if r is None or bool(r["suppressed"]):
            continue
        rows.append(finding(
            **common, metric=f"top_box_{status.replace(' ', '_')}", label=f"Orders rated {top} or more, {status}",
            estimate=float(r["top_box_share"]) * 100, ci_low=float(r["top_box_low"]) * 100, ci_high=float(r["top_box_high"]) * 100,
            unit="%", better="higher", n=int(r["orders"]),
            sentence=(
                f"{r['top_box_share']:.1%} of {status} orders were rated {top} or more "
                f"({lvl} CI {r['top_box_low']:.1%} to {r['top_box_high']:.1%})."
            ),
        ))
    gap, glo, ghi = summary.top_box_gap
    if math.isfinite(gap):
        rows.append(finding(
            **common, metric="top_box_gap", label=f"Orders rated {top} or more, late minus on time", estimate=gap * 100,
            ci_low=glo * 100, ci_high=ghi * 100, unit="pp", better="higher", n=summary.orders,
            sentence=(
                f"Late orders are rated {top} or more {abs(gap) * 100:.0f} pp {'less' if gap < 0 else 'more'} often than "
                f"on-time orders ({lvl} CI {glo * 100:+.0f} to {ghi * 100:+.0f} pp)."
            ),
        ))
    a, d = effects.adjusted, effects.per_day
    if a.estimable:
        rows.append(finding(
            **common, metric="late_score_gap_adjusted", label="Score gap of a late delivery, with controls",
            estimate=a.fit.estimate, ci_low=a.fit.ci_low, ci_high=a.fit.ci_high, unit="points", better="higher", n=a.fit.n,
            sentence=(
                f"With {effects.held()} held fixed, a late delivery goes with a rating {abs(a.fit.estimate):.2f} points "
                f"{'lower' if a.fit.estimate < 0 else 'higher'} ({lvl} CI {a.fit.ci_low:+.2f} to {a.fit.ci_high:+.2f}); an association, "
                "not proof of cause."
            ),
        ))
    if d.estimable:
        rows.append(finding(
            **common, metric="score_per_day_late",
            label=f"Score change per further day late (orders {effects.window()}), with controls",
            estimate=d.fit.estimate, ci_low=d.fit.ci_low, ci_high=d.fit.ci_high, unit="points per day", better="higher", n=d.fit.n,
            sentence=(
                f"Among orders {effects.window()}, each further day of delay goes with {d.fit.estimate:+.3f} points "
                f"({lvl} CI {d.fit.ci_low:+.3f} to {d.fit.ci_high:+.3f})." + effects.tail_sentence()
            ),
        ))
    if value.status == OK:
        rows.append(finding(
            **common, metric="value_fewer_late", label=(
                f"Yearly value of cutting late deliveries from {value.late_share_from:.1%} to {value.late_share_to:.1%} "
                f"(range: score gap's interval x {value.per_point_text()} per review point, assumed)"
            ),
            estimate=value.value, ci_low=value.value_low, ci_high=value.value_high, unit=value.currency, better="higher",
            n=None, sentence=value.sentence(),
        ))
    return rows


__all__ = [
    "CAVEAT", "Effect", "LateEffects", "LatenessValue", "ORDER_COLUMNS", "Punctuality", "REQUIRES", "effect_formula",
    "findings", "fit_effect", "fit_late_effects", "model_frame", "order_outcomes", "order_outcomes_expr", "punctuality",
    "status_coverage", "value_of_fewer_late",
]

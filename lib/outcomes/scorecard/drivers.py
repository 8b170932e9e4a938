"""Drivers: how IT delivery moves customer outcomes, estimated on the segment x month panel.

For each customer outcome ``y`` (CSAT, churn rate, ...) and one IT delivery metric ``x``
(mean first response time of customer tickets by default), :func:`fit_drivers` fits the
two-way fixed-effects regression

    y[s, t] = a[s] + g[t] + b * x[s, t] + e[s, t]

on the panel (segments s, months t) with statsmodels OLS. Segment effects absorb
lasting differences between segments, month effects absorb what hits every segment at
once (seasons, campaigns), so ``b`` is read from changes within a segment relative to
the month's average. Standard errors are cluster-robust by segment with the small-sample
correction, and inference uses the t distribution with G - 1 degrees of freedom (G =
number of segments): with five regions the intervals are wide, and the result says so.
This is an association: it becomes a causal claim only when an experiment backs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
from statsmodels.regression.linear_model import OLS
from statsmodels.tools.tools import add_constant

from outcomes import format as fmt
from outcomes.estimate import Estimate
from outcomes.metrics import catalog
from outcomes.metrics.panel import build_panel, wide
from outcomes.periods import MonthLike

#: Status codes of an estimate (expected data conditions, returned rather than raised).
OK = "ok"
INSUFFICIENT_DATA = "insufficient_data"
NO_VARIATION = "no_variation_in_x"
FEW_CLUSTERS = 30
_METHOD = "OLS with segment and month fixed effects, cluster-robust by segment"


@dataclass(frozen=True)
class DriverEffect:
    """The slope of one outcome on the driver.

    Parameters
    ----------
    outcome, x : str
        Metric ids.
    fit : Estimate
        The change in ``outcome`` (its stored unit: a fraction for rates) per +1 unit of ``x``,
        with its cluster-robust standard error and interval (t with clusters - 1 degrees of
        freedom); ``n`` is the segment-months used, ``conditions`` the status code when it
        could not be estimated.
    n_clusters : int
        Segments used.
    """

    outcome: str
    x: str
    fit: Estimate
    n_clusters: int

    @property
    def status(self) -> str:
        """``ok``, ``insufficient_data`` or ``no_variation_in_x``."""
        return self.fit.conditions[0] if self.fit.conditions else OK

    def per_unit_change(self, delta_x: float) -> tuple[float, float, float]:
        """Change in the outcome (estimate, low, high) for a change ``delta_x`` in ``x``."""
        lo, hi = sorted((self.fit.ci_low * delta_x, self.fit.ci_high * delta_x))
        return self.fit.estimate * delta_x, lo, hi

    def row(self) -> dict[str, object]:
        """The effect as one table row: outcome, x, coef, se, interval, p-value, df, sizes, status."""
        f = self.fit
        return {
            "outcome": self.outcome, "x": self.x, "coef": f.estimate, "se": f.se, "ci_low": f.ci_low, "ci_high": f.ci_high,
            "p_value": f.p_value, "df": f.df, "n_obs": f.n, "n_clusters": self.n_clusters, "status": self.status,
        }


@dataclass(frozen=True)
class DriversResult:
    """The drivers model's estimates, with their presentation.

    Parameters
    ----------
    x : str
        Driver metric id.
    estimates : tuple of DriverEffect
        One per outcome.
    segment_dim : str
        Segment dimension of the panel (the clusters).
    alpha : float
        1 - confidence level.
    """

    x: str
    estimates: tuple[DriverEffect, ...]
    segment_dim: str
    alpha: float = 0.05

    def estimate(self, outcome: str) -> DriverEffect | None:
        """The estimate for ``outcome`` (None when it was not modelled)."""
        return next((e for e in self.estimates if e.outcome == outcome), None)

    def to_frame(self) -> pd.DataFrame:
        """One row per outcome: coefficient, standard error, interval, p-value, sizes, status."""
        return pd.DataFrame([e.row() for e in self.estimates])

    @property
    def notes(self) -> list[str]:
        """Caveats: few clusters, unusable outcomes, and the association caveat."""
        notes = []
        g = max((e.n_clusters for e in self.estimates if e.status == OK), default=0)
        if 0 < g < FEW_CLUSTERS:
            notes.append(
                f"Only {g} {self.segment_dim} clusters: standard errors use the small-sample correction and "
                f"t with {g - 1} degrees of freedom; intervals are approximate and wide."
            )
        for e in self.estimates:
            if e.status != OK:
                notes.append(f"{catalog.get(e.outcome).name}: not estimated ({e.status.replace('_', ' ')}).")
        notes.append("These are associations across segments and months, not proof of cause, unless an experiment backs them.")
        return notes

    def sentences(self) -> list[str]:
        """The result in words: one hour (unit) better on the driver goes with ... per outcome."""
        xm = catalog.get(self.x)
        step = -1.0 if xm.direction == "lower_is_better" else 1.0
        level = fmt.confidence(self.alpha)
        parts = []
        for e in self.estimates:
            if e.status != OK:
                continue
            mid, lo, hi = e.per_unit_change(step)
            unit = catalog.get(e.outcome).unit
            parts.append(
                f"{fmt.change(mid, unit, decimals=2)} {_label(e.outcome)} "
                f"({level} CI {fmt.change(lo, unit, decimals=2)} to {fmt.change(hi, unit, decimals=2)})"
            )
        out = []
        if parts:
            better = "faster" if xm.unit == "hours" and step < 0 else ("lower" if step < 0 else "higher")
            unit = xm.unit.rstrip("s") if xm.unit == "hours" else xm.unit
            head, _, qualifier = xm.name.lower().partition(", ")
            what = f"{head} ({qualifier})" if qualifier else head
            out.append(f"One {unit} {better} {what} goes with " + " and ".join(parts) + ".")
            ok = [e for e in self.estimates if e.status == OK]
            out.append(
                f"Estimated on {ok[0].fit.n} {self.segment_dim}-months in {ok[0].n_clusters} {self.segment_dim}s with "
                f"{self.segment_dim} and month fixed effects, standard errors clustered by {self.segment_dim}."
            )
        return out + self.notes

    def summary(self) -> str:
        """A plain-text table of the estimates followed by the sentences."""
        frame = self.to_frame()
        return frame.to_string(index=False, float_format=lambda v: f"{v:.4g}") + "\n\n" + "\n".join(self.sentences())


def _label(metric_id: str) -> str:
    m = catalog.get(metric_id)
    return {"csat": "CSAT", "nps": "NPS", "churn_rate": "churn"}.get(metric_id, m.name.lower())


def fit_drivers(
    panel: pd.DataFrame,
    *,
    x: str = "first_response_mean_hours",
    outcomes: Sequence[str] = ("csat", "churn_rate"),
    segment_dim: str = "region",
    alpha: float = 0.05,
) -> DriversResult:
    """Fit the two-way fixed-effects model of each outcome on ``x``.

    Parameters
    ----------
    panel : pandas.DataFrame
        Tidy panel (:func:`outcomes.metrics.panel.build_panel`) holding ``x`` and the outcomes for
        ``segment_dim``.
    x : str
        Driver metric id.
    outcomes : sequence of str
        Outcome metric ids.
    segment_dim : str
        Segment dimension of the panel rows to use; segments are the clusters.
    alpha : float
        1 - confidence level, in (0, 1).

    Returns
    -------
    DriversResult
        Estimates; an outcome with too few usable segment-months or no variation in ``x``
        within segments comes back with a status instead of numbers.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), bounds excluded; got {alpha}")
    for mid in (x, *outcomes):
        catalog.get(mid)
    rows = panel[panel["segment_dim"] == segment_dim]
    missing = [m for m in (x, *outcomes) if m not in set(rows["metric"])]
    if missing:
        raise ValueError(
            f"the panel has no {segment_dim!r} rows for {missing}; build it with "
            f"build_panel(..., segment={segment_dim!r}, metrics=[...]) including them"
        )
    w = wide(rows, segment_dim=segment_dim).reset_index()
    w["period"] = pd.to_datetime(w["period"]).dt.strftime("%Y-%m")
    return DriversResult(x, tuple(_fit_one(w, x, y, alpha) for y in outcomes), segment_dim, alpha)


def _fit_one(w: pd.DataFrame, x: str, y: str, alpha: float) -> DriverEffect:
    data = w[["segment", "period", x, y]].dropna().rename(columns={x: "x", y: "y"})
    g = data["segment"].nunique()

    def empty(status: str) -> DriverEffect:
        fit = Estimate.missing(_METHOD, level=1 - alpha, n=len(data), df=max(g - 1, 0), conditions=(status,))
        return DriverEffect(y, x, fit, g)

    if g < 2 or data["period"].nunique() < 2 or len(data) <= g + data["period"].nunique():
        return empty(INSUFFICIENT_DATA)
    within = data["x"] - data.groupby("segment")["x"].transform("mean") - data.groupby("period")["x"].transform("mean")
    if np.allclose(within - within.mean(), 0.0):
        return empty(NO_VARIATION)
    groups = pd.factorize(data["segment"])[0]
    effects = pd.get_dummies(data[["segment", "period"]].astype(str), drop_first=True, dtype=float)
    design = add_constant(pd.concat([data[["x"]], effects], axis=1), has_constant="add")
    fit = OLS(data["y"], design).fit(
        cov_type="cluster", cov_kwds={"groups": groups, "use_correction": True, "df_correction": True}, use_t=True
    )
    return DriverEffect(y, x, Estimate.from_statsmodels(fit, "x", alpha=alpha, method=_METHOD), g)


def drivers_panel(
    con: ibis.BaseBackend,
    *,
    start: MonthLike,
    end: MonthLike,
    x: str = "first_response_mean_hours",
    outcomes: Sequence[str] = ("csat", "churn_rate"),
    segment: str = "region",
    min_customers: int = 10,
    history_dir: str | Path | None = None,
) -> pd.DataFrame:
    """The panel the drivers model needs: ``x`` on customer tickets and the outcomes, per segment-month.

    ``history_dir`` keeps its months across runs (:func:`outcomes.metrics.panel.build_panel`).
    """
    return build_panel(
        con,
        start=start,
        end=end,
        segment=segment,
        metrics=[x, *outcomes],
        min_customers=min_customers,
        requester="customer",
        history_dir=history_dir,
    )

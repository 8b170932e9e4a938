"""What-if: an investment case recomputed on a grid of the settings a reader may doubt.

A reader of the ROI page may ask what the case would be with a different causal share of
an association, with the effect extrapolated to every unit, at another discount rate or
with a cost overrun. An offline page cannot run the Monte Carlo, so :func:`what_if_grid`
runs it beforehand on a coarse grid of those settings and returns one row per setting;
the page's sliders only pick the row to show.

Every grid point uses the same seed and number of draws as the case itself, so each
uncertain number takes the same draws at every point (common random numbers): a move of
a slider shows the effect of the setting, not Monte Carlo noise, and the row at the
default settings is the case on the page, figure for figure. A cost overrun scales the
present value of the (risk-adjusted) costs of every draw, so it needs no new draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from outcomes import format as fmt
from outcomes.errors import ParamsError
from outcomes.value import montecarlo
from outcomes.value.model import ShareRange, ValueModel

#: The causal-share setting that keeps each association's stated range (the kit's default).
SHARE_RANGE = "range"
#: Fixed causal shares offered beside the stated range.
FIXED_SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)
#: Discount rates offered, as steps from the value model's rate.
RATE_STEPS = (-0.04, -0.02, 0.0, 0.02, 0.04)
#: Cost overruns offered, in percent of the costs.
OVERRUNS_PCT = (0, 10, 20, 30, 40, 50)
#: Columns of the grid.
COLUMNS = (
    "initiative", "share", "extrapolate", "discount_rate", "overrun_pct", "default",
    "npv_p10", "npv_p50", "npv_p90", "prob_roi_positive", "npv_text", "chance_text",
)


@dataclass(frozen=True)
class WhatIf:
    """One case's what-if grid and the settings it spans.

    Attributes
    ----------
    initiative, name, currency : str
        The case.
    grid : pandas.DataFrame
        One row per setting (columns :data:`COLUMNS`); ``share`` is :data:`SHARE_RANGE`
        or a fixed share written with two decimals.
    shares : tuple of str
        Causal-share settings; empty when no step of the chain is an association.
    extrapolations : tuple of bool
        ``(False, True)`` when the effect was measured on part of the population, else one value.
    rates : tuple of float
        Discount rates.
    overruns_pct : tuple of int
        Cost overruns in percent.
    default : dict
        The settings of the case on the page.
    """

    initiative: str
    name: str
    currency: str
    grid: pd.DataFrame
    shares: tuple[str, ...]
    extrapolations: tuple[bool, ...]
    rates: tuple[float, ...]
    overruns_pct: tuple[int, ...]
    default: dict[str, Any]

    def default_row(self) -> pd.Series:
        """The grid's row at the page's settings."""
        return self.grid[self.grid["default"]].iloc[0]


def share_key(share: float | None) -> str:
    """The grid's label of a causal-share setting: :data:`SHARE_RANGE` (None) or the share with two decimals."""
    return SHARE_RANGE if share is None else f"{share:.2f}"


def _with_setting(model: ValueModel, key: str, share: float | None, rate: float) -> ValueModel:
    """The model with every link of ``key`` at a fixed causal share (None: as stated) and the discount rate."""
    ini = model.initiative(key)
    if share is not None:
        fixed = ShareRange(low=share, high=share)
        links = tuple(link.model_copy(update={"causal_share": fixed}) for link in ini.links)
        ini = ini.model_copy(update={"links": links})
    return model.model_copy(update={"initiatives": {**model.initiatives, key: ini}, "discount_rate": rate})


def _figures(case: montecarlo.InvestmentCase, overrun_pct: float) -> dict[str, Any]:
    """NPV P10/P50/P90 and the chance of a positive ROI with the costs raised by ``overrun_pct``."""
    if overrun_pct == 0:
        npv = case.npv  # the case's own draws: the default row is the case, not a recomputation of it
    else:
        npv = case.pv_benefits - (1.0 + overrun_pct / 100.0) * case.pv_costs
    p10, p50, p90 = (float(np.quantile(npv, q)) for q in (0.1, 0.5, 0.9))
    prob = float(np.mean(npv > 0))
    return {
        "npv_p10": p10, "npv_p50": p50, "npv_p90": p90, "prob_roi_positive": prob,
        "npv_text": f"NPV P50 {fmt.money(p50, case.currency)}, P10 to P90 {fmt.money_range(p10, p90, case.currency)}",
        "chance_text": f"Chance ROI is positive: {fmt.probability(prob)}",
    }


def what_if_grid(
    model: ValueModel,
    key: str,
    *,
    shares: Sequence[float] = FIXED_SHARES,
    rate_steps: Sequence[float] = RATE_STEPS,
    overruns_pct: Sequence[int] = OVERRUNS_PCT,
    **run: Any,
) -> WhatIf:
    """Run one initiative's case on a grid of causal share, extrapolation, discount rate and cost overrun.

    Parameters
    ----------
    model : ValueModel
        The value model, as the case on the page was built from.
    key : str
        Initiative id.
    shares : sequence of float
        Fixed causal shares offered beside the stated range (used when a link is an association).
    rate_steps : sequence of float
        Discount rates offered, as steps from the model's rate (0 must be one of them).
    overruns_pct : sequence of int
        Cost overruns in percent (0 must be one of them).
    **run
        The arguments the case on the page was simulated with (:func:`outcomes.value.montecarlo.simulate`:
        ``effect``, ``link_slopes``, ``inputs``, ``outcome_measured``, ``n``, ``seed``); not ``extrapolate``.

    Returns
    -------
    WhatIf
        The row with ``default`` true is the case :func:`~outcomes.value.montecarlo.simulate`
        returns for ``run``: the same draws, the same figures.
    """
    if 0 not in rate_steps or 0 not in overruns_pct:
        raise ParamsError(
            f"what_if_grid: rate_steps {list(rate_steps)} and overruns_pct {list(overruns_pct)} must each include 0, "
            "the page's own setting"
        )
    if "extrapolate" in run:
        raise ParamsError("what_if_grid: extrapolation is a setting of the grid; pass the case's other arguments only")
    run = {**run, "seed": montecarlo.resolve_seed(run.get("seed", montecarlo.DEFAULT_SEED))}
    base = montecarlo.simulate(model, key, **run)
    ini = model.initiative(key)
    associational = any(v == "drivers" for k, v in base.sources.items() if k.startswith("link:"))
    share_options: list[float | None] = [None, *shares] if associational else [None]
    partial = base.measured_share is not None and base.measured_share < 1
    extrapolations = (ini.extrapolate, not ini.extrapolate) if partial else (ini.extrapolate,)
    rates = tuple(round(model.discount_rate + step, 6) for step in rate_steps)
    rows = []
    for share in share_options:
        for extrapolate in extrapolations:
            for rate in rates:
                is_base = share is None and extrapolate == ini.extrapolate and rate == round(model.discount_rate, 6)
                case = base if is_base else montecarlo.simulate(
                    _with_setting(model, key, share, rate), key, extrapolate=extrapolate, **run
                )
                for overrun in overruns_pct:
                    rows.append({
                        "initiative": key, "share": share_key(share), "extrapolate": bool(extrapolate),
                        "discount_rate": rate, "overrun_pct": int(overrun), "default": is_base and overrun == 0,
                        **_figures(case, overrun),
                    })
    default = {"share": SHARE_RANGE, "extrapolate": bool(ini.extrapolate),
               "discount_rate": round(model.discount_rate, 6), "overrun_pct": 0}
    return WhatIf(
        initiative=key, name=base.name, currency=base.currency, grid=pd.DataFrame(rows, columns=list(COLUMNS)),
        shares=tuple(share_key(s) for s in share_options) if associational else (),
        extrapolations=tuple(bool(e) for e in sorted(extrapolations)), rates=rates,
        overruns_pct=tuple(int(o) for o in overruns_pct), default=default,
    )


"""Investment cash flows the Forrester Total Economic Impact (TEI) way.

A case runs over an "Initial" column (time 0, not discounted) and ``years`` yearly
columns, each discounted at the yearly ``rate``. Benefits are cut and costs raised by a
risk factor per line item; then

* ``PV(X) = sum_t X_t / (1 + rate) ** t`` with ``t = 0`` the initial column,
* ``NPV = PV(benefits) - PV(costs)``,
* ``ROI = NPV / PV(costs)``,
* payback = the earliest time at which cumulative net benefits (risk-adjusted, not
  discounted) reach zero, in months, with each year's flow spread evenly over its
  twelve months.

The array functions work along the last axis, so the same code serves one case and a
Monte Carlo matrix of ``(draws, years + 1)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from outcomes.errors import ParamsError

#: Forrester's default yearly discount rate for TEI studies.
DEFAULT_RATE = 0.10
#: Forrester's default horizon: three years after the initial column.
DEFAULT_YEARS = 3

Flows = Sequence[float] | np.ndarray


def discount_factors(years: int, rate: float = DEFAULT_RATE) -> np.ndarray:
    """Return ``1 / (1 + rate) ** t`` for ``t = 0 .. years``.

    Parameters
    ----------
    years : int
        Years after the initial column.
    rate : float
        Yearly discount rate (0.10 for 10%).

    Returns
    -------
    numpy.ndarray
        ``years + 1`` factors; the first (the initial column) is 1.
    """
    if years < 0:
        raise ParamsError(f"years must be 0 or more, got {years}")
    if rate <= -1:
        raise ParamsError(f"discount rate must be above -1 (e.g. 0.10 for 10%), got {rate}")
    return (1.0 + rate) ** -np.arange(years + 1, dtype=float)


def present_value(flows: Flows, rate: float = DEFAULT_RATE) -> np.ndarray:
    """Discount flows given per column (initial, year 1, ...) along the last axis.

    Parameters
    ----------
    flows : array-like
        Shape ``(..., years + 1)``; the first column is the initial, undiscounted one.
    rate : float
        Yearly discount rate.

    Returns
    -------
    numpy.ndarray
        The present values, shape ``flows.shape[:-1]`` (a 0-d array for one case).
    """
    arr = np.asarray(flows, dtype=float)
    return arr @ discount_factors(arr.shape[-1] - 1, rate)


def risk_adjust_benefits(benefits: Flows, risk: float) -> np.ndarray:
    """Cut benefits by ``risk`` (0.15 for 15%); a negative benefit (a loss) grows by it instead.

    Parameters
    ----------
    benefits : array-like
        Benefit flows.
    risk : float
        Risk factor in [0, 1).

    Returns
    -------
    numpy.ndarray
        The risk-adjusted flows: always the less favourable side of the estimate.
    """
    if not 0 <= risk < 1:
        raise ParamsError(f"benefit risk adjustment must be in [0, 1) (0.15 cuts benefits by 15%), got {risk}")
    arr = np.asarray(benefits, dtype=float)
    return arr - risk * np.abs(arr)


def risk_adjust_costs(costs: Flows, risk: float) -> np.ndarray:
    """Raise costs by ``risk`` (0.10 for 10%).

    Parameters
    ----------
    costs : array-like
        Cost flows (positive numbers).
    risk : float
        Risk factor, 0 or more.

    Returns
    -------
    numpy.ndarray
        The risk-adjusted flows.
    """
    if risk < 0:
        raise ParamsError(f"cost risk adjustment must be 0 or more (0.10 raises costs by 10%), got {risk}")
    return np.asarray(costs, dtype=float) * (1.0 + risk)


def roi(npv: Flows, pv_costs: Flows) -> np.ndarray:
    """Return ``NPV / PV(costs)``; NaN where there are no costs (ROI is undefined then).

    Parameters
    ----------
    npv, pv_costs : array-like
        Net present values and present values of costs.

    Returns
    -------
    numpy.ndarray
        ROI as a fraction (3.29 for 329%).
    """
    npv_arr = np.asarray(npv, dtype=float)
    cost_arr = np.asarray(pv_costs, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(cost_arr > 0, npv_arr / np.where(cost_arr > 0, cost_arr, 1.0), np.nan)


def break_even_monthly_cost(
    pv_benefits: float, pv_initial: float, years: int, rate: float = DEFAULT_RATE, cost_risk: float = 0.0
) -> float:
    """The running cost per month at which a case's NPV is zero.

    Running costs are paid from year 1 on, twelve months a year, raised by ``cost_risk``
    and discounted like every other column, so a case whose running cost stays below
    this amount has a positive NPV.

    Parameters
    ----------
    pv_benefits : float
        Present value of the risk-adjusted benefits.
    pv_initial : float
        The risk-adjusted one-off cost (the initial column, undiscounted).
    years : int
        Years after the initial column.
    rate : float
        Yearly discount rate.
    cost_risk : float
        Risk adjustment of the running costs (0.10 raises them by 10%).

    Returns
    -------
    float
        Money per month; 0 or less when the benefits do not even cover the one-off cost.

    Examples
    --------
    >>> round(break_even_monthly_cost(36_000.0, 0.0, 3, rate=0.0), 2)
    1000.0
    """
    if years < 1:
        raise ParamsError(f"a running cost needs at least one year after the initial column, got years={years}")
    per_month = 12.0 * float(risk_adjust_costs(1.0, cost_risk)) * float(discount_factors(years, rate)[1:].sum())
    return (pv_benefits - pv_initial) / per_month


def payback_months(net: Flows) -> np.ndarray:
    """Months until cumulative net benefits first reach zero; NaN when not within the horizon.

    Parameters
    ----------
    net : array-like
        Net benefits (benefits - costs, risk-adjusted), shape ``(..., years + 1)``; the
        first column happens at time 0, year ``y`` is spread evenly over months
        ``12 (y - 1)`` to ``12 y``.

    Returns
    -------
    numpy.ndarray
        Months, shape ``net.shape[:-1]``: 0 when the cumulative net benefit is never
        negative, NaN when it is still negative at the end of the horizon.

    Examples
    --------
    Invest 100 up front, earn 60 a year: cumulative -100, -40 after year 1, +20 after
    year 2, so payback falls 40/60 of the way through year 2, at 12 + 8 = 20 months.

    >>> float(payback_months([-100, 60, 60, 60]))
    20.0
    """
    arr = np.asarray(net, dtype=float)
    cum = np.cumsum(arr, axis=-1)
    before, after, step = cum[..., :-1], cum[..., 1:], arr[..., 1:]
    crosses = (before < 0) & (after >= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(crosses, -before / np.where(crosses, step, 1.0), np.inf)
    months = 12.0 * (np.arange(arr.shape[-1] - 1) + fraction)
    first = months.min(axis=-1, initial=np.inf)
    never_negative = (cum >= 0).all(axis=-1)
    return np.where(np.isfinite(first), first, np.where(never_negative, 0.0, np.nan))


def _column_names(years: int) -> list[str]:
    return ["Initial", *[f"Year {y}" for y in range(1, years + 1)]]


def _lines(flows: Mapping[str, Flows] | Flows, default_name: str) -> dict[str, np.ndarray]:
    items = flows.items() if isinstance(flows, Mapping) else [(default_name, flows)]
    return {name: np.asarray(values, dtype=float) for name, values in items}


def _risks(risk: float | Mapping[str, float], names: Sequence[str], side: str) -> dict[str, float]:
    if not isinstance(risk, Mapping):
        risks = dict.fromkeys(names, float(risk))
    else:
        unknown = sorted(set(risk) - set(names))
        if unknown:
            raise ParamsError(
                f"{side} risk given for unknown line(s) {unknown}; the {side} lines are: {', '.join(names)}"
            )
        risks = {name: float(risk.get(name, 0.0)) for name in names}
    check = risk_adjust_benefits if side == "benefit" else risk_adjust_costs
    for value in risks.values():
        check(0.0, value)
    return risks


@dataclass(frozen=True)
class CashFlowCase:
    """One investment case: yearly benefit and cost lines, risk factors, discount rate.

    Build it with :func:`tei`. Flows are stored before risk adjustment; every derived
    figure (totals, PV, NPV, ROI, payback) uses the risk-adjusted flows, as TEI does.

    Attributes
    ----------
    benefits, costs : dict of str to numpy.ndarray
        Line items, each with ``years + 1`` values (initial, year 1, ...), costs positive.
    benefit_risk, cost_risk : dict of str to float
        Risk factor per line.
    rate : float
        Yearly discount rate.
    """

    benefits: dict[str, np.ndarray]
    costs: dict[str, np.ndarray]
    benefit_risk: dict[str, float] = field(default_factory=dict)
    cost_risk: dict[str, float] = field(default_factory=dict)
    rate: float = DEFAULT_RATE

    @property
    def years(self) -> int:
        """Years after the initial column."""
        return len(next(iter(self.benefits.values()))) - 1

    def adjusted_benefits(self) -> dict[str, np.ndarray]:
        """Benefit lines after risk adjustment."""
        return {k: risk_adjust_benefits(v, self.benefit_risk.get(k, 0.0)) for k, v in self.benefits.items()}

    def adjusted_costs(self) -> dict[str, np.ndarray]:
        """Cost lines after risk adjustment."""
        return {k: risk_adjust_costs(v, self.cost_risk.get(k, 0.0)) for k, v in self.costs.items()}

    @property
    def total_benefits(self) -> np.ndarray:
        """Risk-adjusted benefits per column."""
        return np.sum(list(self.adjusted_benefits().values()), axis=0)

    @property
    def total_costs(self) -> np.ndarray:
        """Risk-adjusted costs per column."""
        return np.sum(list(self.adjusted_costs().values()), axis=0)

    @property
    def net_benefits(self) -> np.ndarray:
        """Risk-adjusted benefits minus costs per column."""
        return self.total_benefits - self.total_costs

    @property
    def pv_benefits(self) -> float:
        """Present value of the risk-adjusted benefits."""
        return float(present_value(self.total_benefits, self.rate))

    @property
    def pv_costs(self) -> float:
        """Present value of the risk-adjusted costs."""
        return float(present_value(self.total_costs, self.rate))

    @property
    def npv(self) -> float:
        """Net present value."""
        return self.pv_benefits - self.pv_costs

    @property
    def roi(self) -> float:
        """NPV / PV(costs), a fraction; NaN without costs."""
        return float(roi(self.npv, self.pv_costs))

    @property
    def payback_months(self) -> float:
        """Months to payback; NaN when not within the horizon."""
        return float(payback_months(self.net_benefits))

    def to_frame(self) -> pd.DataFrame:
        """Return the TEI cash-flow table (risk-adjusted).

        Returns
        -------
        pandas.DataFrame
            One row per benefit line, "Total benefits", one row per cost line,
            "Total costs", "Net benefits" and "Cumulative net benefits"; columns
            Initial, Year 1 .. Year n, Total (undiscounted) and Present value.
        """
        rows: dict[str, np.ndarray] = {}
        rows.update(self.adjusted_benefits())
        rows["Total benefits"] = self.total_benefits
        rows.update(self.adjusted_costs())
        rows["Total costs"] = self.total_costs
        rows["Net benefits"] = self.net_benefits
        frame = pd.DataFrame.from_dict(rows, orient="index", columns=_column_names(self.years))
        frame["Total"] = frame.sum(axis=1)
        frame["Present value"] = present_value(frame[_column_names(self.years)].to_numpy(), self.rate)
        cumulative = np.cumsum(self.net_benefits)
        frame.loc["Cumulative net benefits"] = [*cumulative, np.nan, np.nan]
        frame.index.name = "line"
        return frame


def tei(
    benefits: Mapping[str, Flows] | Flows,
    costs: Mapping[str, Flows] | Flows,
    *,
    rate: float = DEFAULT_RATE,
    benefit_risk: float | Mapping[str, float] = 0.0,
    cost_risk: float | Mapping[str, float] = 0.0,
) -> CashFlowCase:
    """Build a TEI investment case from yearly flows.

    Parameters
    ----------
    benefits, costs : array-like or mapping of str to array-like
        Flows per column: initial (time 0), then one per year. A mapping gives named
        line items; a plain sequence is one line ("Benefits" / "Costs"). Costs are
        positive numbers.
    rate : float
        Yearly discount rate (Forrester: 0.10).
    benefit_risk, cost_risk : float or mapping of str to float
        Risk adjustment for all lines, or per line (lines not named get 0).

    Returns
    -------
    CashFlowCase
        The case; its properties give PV, NPV, ROI and payback.

    Examples
    --------
    The SalesLoft TEI (Forrester), risk-adjusted flows:

    >>> case = tei([0, 1606511, 3061331, 4229760], [53150, 666715, 636772, 647783])
    >>> round(case.pv_costs), round(case.pv_benefits), round(case.roi, 2)
    (1672201, 7168371, 3.29)
    """
    b_lines = _lines(benefits, "Benefits")
    c_lines = _lines(costs, "Costs")
    lengths = {len(v) for v in [*b_lines.values(), *c_lines.values()]}
    if len(lengths) != 1 or min(lengths) < 1:
        raise ParamsError(
            "every benefit and cost line needs the same number of columns (initial, year 1, ...); "
            f"found lengths {sorted(lengths)}"
        )
    discount_factors(lengths.pop() - 1, rate)  # validates the rate
    return CashFlowCase(
        benefits=b_lines,
        costs=c_lines,
        benefit_risk=_risks(benefit_risk, list(b_lines), "benefit"),
        cost_risk=_risks(cost_risk, list(c_lines), "cost"),
        rate=rate,
    )

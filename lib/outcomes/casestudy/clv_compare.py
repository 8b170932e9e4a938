"""Compare the simple and the model-based lifetime value like for like.

The two values only compare when they count the same spend over the same months:

* **repeat spend only** on both sides. The model forecasts purchases still to come, so a
  customer's first purchase (already made) is not in it; the simple formula therefore
  takes the revenue per customer-month of repeat purchases
  (:attr:`~outcomes.casestudy.clv_holdout.HoldoutCheck.repeat_arpu_month`), not of every
  purchase.
* **the same horizon**: the simple formula is summed over the model's months.
* **the model's own miss**: the interval from the parameters' uncertainty ignores that the
  model itself can be wrong. Its forecast on the hold-out months missed by a known share;
  the model's interval is widened by that factor in both directions (a forecast that
  missed by 14 % on months it did not see may miss by as much either way on the next).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from outcomes import format as fmt
from outcomes.casestudy.clv import CLVResult, SimpleCLV, simple_clv
from outcomes.casestudy.clv_holdout import HoldoutCheck


@dataclass(frozen=True)
class ValueComparison:
    """The simple and the model-based lifetime value on the same footing.

    Attributes
    ----------
    simple : SimpleCLV
        Repeat-only revenue per customer-month, summed over the model's horizon.
    model : CLVResult
        The BG/NBD + Gamma-Gamma value.
    holdout : HoldoutCheck
        The model's forecast against the hold-out months, and the simple formula's inputs.
    """

    simple: SimpleCLV
    model: CLVResult
    holdout: HoldoutCheck

    @property
    def model_value(self) -> float:
        """Model-based value per customer."""
        return float(self.model.segments.iloc[0]["clv_mean"])

    @property
    def parameter_interval(self) -> tuple[float, float]:
        """The model's interval from its parameters' uncertainty alone (NaN without draws)."""
        row = self.model.segments.iloc[0]
        return float(row["clv_mean_low"]), float(row["clv_mean_high"])

    @property
    def miss_factor(self) -> float:
        """Actual over forecast repeat purchases on the hold-out months (1.17: the model forecast 14 % too few)."""
        h = self.holdout
        return h.actual / h.predicted if h.predicted > 0 and h.actual > 0 else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        """The model's interval widened by its hold-out miss in both directions.

        ``(low * min(f, 1/f), high * max(f, 1/f))`` with ``f`` the :attr:`miss_factor`;
        the parameter interval alone when the miss is unknown.
        """
        low, high = self.parameter_interval
        f = self.miss_factor
        if not math.isfinite(f):
            return low, high
        return low * min(f, 1 / f), high * max(f, 1 / f)

    def verdict(self) -> str:
        """Where the simple value falls against the model's widened interval: ``below``, ``within`` or ``above``."""
        low, high = self.interval
        if not (math.isfinite(low) and math.isfinite(high)):
            return "unknown"
        v = self.simple.value
        return "below" if v < low else "above" if v > high else "within"

    def to_frame(self) -> pd.DataFrame:
        """One row per way: what it counts, its horizon, the value per customer and its interval."""
        low, high = self.interval
        p_low, p_high = self.parameter_interval
        months = f"{self.model.horizon_months} months"
        return pd.DataFrame(
            [
                {"way": "simple formula", "spend counted": "repeat purchases", "horizon": months,
                 "value per customer": self.simple.value, "interval low": math.nan, "interval high": math.nan,
                 "interval from": "none (inputs taken as known)"},
                {"way": "BG/NBD + Gamma-Gamma", "spend counted": "repeat purchases", "horizon": months,
                 "value per customer": self.model_value, "interval low": low, "interval high": high,
                 "interval from": f"parameters ({fmt.significant(p_low, 3)} to {fmt.significant(p_high, 3)}), "
                 f"widened by the hold-out miss ({self.holdout.error:+.0%})"},
            ]
        )

    def sentences(self) -> list[str]:
        """The comparison in words: like for like, the model's widened interval, and the verdict."""
        cur = f" {self.model.currency}" if self.model.currency else ""
        low, high = self.interval
        h = self.holdout
        months = self.model.horizon_months
        words = {
            "below": "below the model's interval: treating every customer alike undervalues them",
            "above": "above the model's interval: treating every customer alike overvalues them",
            "within": "inside the model's interval: on these data the two ways do not disagree",
            "unknown": "not comparable with the model, which has no interval",
        }
        return [
            f"Like for like (repeat purchases only, {months} months, {self.simple.margin:.0%} margin, "
            f"{self.simple.discount_rate:.2%} a month discount): the simple formula gives "
            f"{fmt.significant(self.simple.value, 3)}{cur} per customer, from {fmt.significant(h.repeat_arpu_month, 3)}{cur} "
            f"of repeat spend per customer-month (counting first purchases too would make it "
            f"{fmt.significant(h.arpu_month, 3)}{cur}, spend the model does not forecast).",
            f"The model gives {fmt.significant(self.model_value, 3)}{cur} per customer, {fmt.significant(low, 3)} to "
            f"{fmt.significant(high, 3)}{cur} once its own miss on the hold-out months ({h.error:+.0%}) widens the "
            "interval from its parameters.",
            f"The simple value is {words[self.verdict()]}.",
        ]


def compare_values(
    holdout: HoldoutCheck, model: CLVResult, *, margin: float, discount_rate: float, currency: str = ""
) -> ValueComparison:
    """The simple value with repeat-only spend over the model's horizon, next to the model's value.

    Parameters
    ----------
    holdout : HoldoutCheck
        The hold-out check (its repeat-only revenue per customer-month and monthly churn
        feed the simple formula; its forecast miss widens the model's interval).
    model : CLVResult
        The model-based value (its horizon is the simple formula's).
    margin, discount_rate : float
        As in :func:`~outcomes.casestudy.clv.simple_clv` (use the model's).
    currency : str
        Named in sentences.

    Returns
    -------
    ValueComparison

    Raises
    ------
    ParamsError
        When the margin or discount rate is out of range, or the hold-out has no
        repeat-only revenue (an old :class:`HoldoutCheck`).
    """
    simple = simple_clv(
        holdout.repeat_arpu_month, margin, holdout.monthly_churn, discount_rate, currency,
        horizon_months=model.horizon_months,
    )
    return ValueComparison(simple=simple, model=model, holdout=holdout)


__all__ = ["ValueComparison", "compare_values"]

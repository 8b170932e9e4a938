"""Check a BG/NBD fit on purchases it did not see, and derive the simple CLV's inputs.

With transactions beyond the calibration period, the fitted model's forecast of repeat
purchases in the hold-out period can be compared with what happened (Fader, Hardie & Lee
2005, figure 2, do this on CDNOW). The same split gives the inputs of the textbook
``ARPU x margin / churn``: revenue per customer-month in calibration, and a monthly churn
read from the share of calibration customers who bought nothing in the hold-out period.
Both a revenue per customer-month with every purchase and one with repeat purchases only
are kept: a lifetime value that forecasts future purchases compares with the repeat-only
one, since a customer's first purchase is already made.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd

from outcomes.casestudy.clv import DAYS_PER_UNIT, BetaGeoFit, rfm_summary


@dataclass(frozen=True)
class HoldoutCheck:
    """Forecast against actual repeat purchases in a hold-out period, and simple-CLV inputs.

    Attributes
    ----------
    customers : int
        Customers of the calibration period.
    holdout_months : float
        Length of the hold-out period in months (365.25 / 12 days).
    predicted, actual : float
        Repeat purchases (days with a purchase) in the hold-out period, summed over customers.
    silent_share : float
        Share of calibration customers without any purchase in the hold-out period.
    monthly_churn : float
        ``1 - (1 - silent_share) ** (1 / holdout_months)``: the monthly loss rate that
        leaves ``1 - silent_share`` of customers buying over the hold-out period (a proxy:
        a customer who is silent may still come back).
    arpu_month : float
        Calibration revenue per customer-month (each customer counted from the first
        purchase), first purchases included.
    currency : str
        Currency of ``arpu_month``.
    repeat_arpu_month : float
        The same with repeat purchases only (each customer's first purchase day left out):
        the spend a customer goes on bringing, which a forecast of future purchases values.
    """

    customers: int
    holdout_months: float
    predicted: float
    actual: float
    silent_share: float
    monthly_churn: float
    arpu_month: float
    currency: str = ""
    repeat_arpu_month: float = math.nan

    @property
    def error(self) -> float:
        """Forecast error as a fraction of the actual purchases (0.05 = 5 % too many)."""
        return self.predicted / self.actual - 1 if self.actual else float("nan")

    def summary(self) -> str:
        """Two sentences: the forecast against the actual, and the simple-CLV inputs."""
        cur = f" {self.currency}" if self.currency else ""
        return (
            f"Over the {self.holdout_months:.1f} hold-out months the model forecast {self.predicted:,.0f} repeat purchases "
            f"by the {self.customers:,} customers; they made {self.actual:,.0f} ({self.error:+.1%}). "
            f"{self.silent_share:.0%} of them bought nothing in that period, a monthly churn of about "
            f"{self.monthly_churn:.1%}; while calibrating they spent {self.arpu_month:,.2f}{cur} per customer-month "
            f"counting every purchase, {self.repeat_arpu_month:,.2f}{cur} counting repeat purchases only."
        )

    def to_frame(self) -> pd.DataFrame:
        """One row of the fields and the forecast error."""
        return pd.DataFrame([{**self.__dict__, "error": self.error}])


def holdout_check(
    transactions: ibis.Table | pd.DataFrame,
    fit: BetaGeoFit,
    *,
    calibration_end: str | dt.date,
    holdout_end: str | dt.date | None = None,
    customer: str = "customer_id",
    time: str = "ordered_at",
    amount: str = "revenue",
    currency: str = "",
) -> HoldoutCheck:
    """Compare a BG/NBD forecast with the hold-out purchases and derive simple-CLV inputs.

    Parameters
    ----------
    transactions : ibis.Table or DataFrame
        One row per purchase (as for :func:`outcomes.casestudy.clv.rfm_summary`).
    fit : BetaGeoFit
        Fitted on the calibration summary (purchases up to ``calibration_end``).
    calibration_end : str or date
        Last day of calibration (ISO date).
    holdout_end : str or date, optional
        Last day of the hold-out period; defaults to the last purchase day.
    customer, time, amount : str
        Columns of ``transactions``.
    currency : str
        Named in sentences.

    Returns
    -------
    HoldoutCheck
    """
    cols = {"customer": customer, "time": time, "time_unit": fit.time_unit}
    cal = rfm_summary(transactions, amount=amount, observation_end=calibration_end, **cols)
    full = rfm_summary(transactions, amount=None, observation_end=holdout_end, **cols)
    table = transactions if isinstance(transactions, ibis.Table) else ibis.memtable(transactions)
    end = pd.Timestamp(holdout_end if holdout_end is not None else table[time].cast("date").max().execute())
    both = cal.merge(full[["customer", "frequency"]], on="customer", suffixes=("", "_full"))
    actual = (both["frequency_full"] - both["frequency"]).to_numpy(dtype=float)
    unit_days = DAYS_PER_UNIT[fit.time_unit]
    holdout_days = (end.normalize() - pd.Timestamp(calibration_end).normalize()).days
    horizon = holdout_days / unit_days
    predicted = fit.expected_purchases(
        horizon, both["frequency"].to_numpy(float), both["recency"].to_numpy(float), both["T"].to_numpy(float)
    )
    months = holdout_days / DAYS_PER_UNIT["month"]
    silent = float(np.mean(actual == 0))
    first_value = _first_purchase_revenue(transactions, customer, time, amount, calibration_end)
    repeat_revenue = float((cal["monetary_value"] * cal["frequency"]).sum())
    revenue = repeat_revenue + first_value
    customer_months = float((cal["T"] * unit_days / DAYS_PER_UNIT["month"]).sum())
    return HoldoutCheck(
        customers=len(both),
        holdout_months=months,
        predicted=float(np.sum(predicted)),
        actual=float(actual.sum()),
        silent_share=silent,
        monthly_churn=1 - (1 - silent) ** (1 / months),
        arpu_month=revenue / customer_months,
        currency=currency,
        repeat_arpu_month=repeat_revenue / customer_months,
    )


def _first_purchase_revenue(
    transactions: ibis.Table | pd.DataFrame, customer: str, time: str, amount: str, calibration_end: str | dt.date
) -> float:
    """Revenue of every customer's first purchase day (not in the summary's monetary value)."""
    t = transactions if isinstance(transactions, ibis.Table) else ibis.memtable(transactions)
    day = t[time].cast("date")
    t = t.filter(day <= ibis.date(str(pd.Timestamp(calibration_end).date()))).mutate(_day=day)
    t = t.mutate(_first=t._day.min().over(group_by=t[customer]))
    return float(t.filter(t._day == t._first)[amount].cast("float64").sum().execute() or 0.0)


__all__ = ["HoldoutCheck", "holdout_check"]

"""ROI of a one-off campaign measured by a randomized test (an e-mail, a mailing).

Per contacted unit, the campaign earns the measured lift in revenue times the gross
margin and costs what one contact costs::

    net per unit = lift x margin - cost per unit          ROI = net / cost

The lift's confidence interval carries over exactly (the relation is linear), so the
net value and the ROI get intervals of the same level. The break-even lift is the revenue
lift per unit at which the campaign pays for itself: ``cost / margin``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from outcomes import format as fmt
from outcomes.experiment.results import MetricEffect


@dataclass(frozen=True)
class CampaignROI:
    """The money of one treatment arm of a campaign test.

    Attributes
    ----------
    arm, control_arm : str
        The compared arms.
    lift, lift_low, lift_high : float
        Revenue per unit, treatment minus control, and its interval (currency per unit).
    margin : float
        Gross margin as a share of revenue.
    cost_per_unit : float
        Cost of contacting one unit (currency).
    units : int
        Units contacted in the test's treatment arm.
    currency : str
        Currency of the money amounts.
    alpha : float
        The interval's significance level.
    per : int
        Units per reported batch (``net_per_batch``: e.g. per 1,000 e-mails).
    """

    arm: str
    control_arm: str
    lift: float
    lift_low: float
    lift_high: float
    margin: float
    cost_per_unit: float
    units: int
    currency: str
    alpha: float = 0.05
    per: int = 1000

    @property
    def net_per_unit(self) -> tuple[float, float, float]:
        """Net value per contacted unit: estimate, low, high."""
        return tuple(x * self.margin - self.cost_per_unit for x in (self.lift, self.lift_low, self.lift_high))  # type: ignore[return-value]

    @property
    def net_per_batch(self) -> tuple[float, float, float]:
        """Net value per ``per`` contacted units: estimate, low, high."""
        return tuple(x * self.per for x in self.net_per_unit)  # type: ignore[return-value]

    @property
    def roi(self) -> tuple[float, float, float]:
        """Net value over cost (0.5 = 50 %): estimate, low, high; NaN when contacts cost nothing."""
        if self.cost_per_unit == 0:
            return (math.nan, math.nan, math.nan)
        return tuple(x / self.cost_per_unit for x in self.net_per_unit)  # type: ignore[return-value]

    def roi_text(self) -> str:
        """The ROI as a rounded range with what it rests on: ``an ROI of roughly 400% to 1,900% ...``.

        Two significant digits at most: the ROI divides by an assumed cost per contact, so
        more digits would claim a precision the assumptions do not have.
        """
        _, low, high = self.roi
        if not (math.isfinite(low) and math.isfinite(high)):
            return "no ROI: contacts cost nothing, so any positive lift pays"
        return (
            f"an ROI of roughly {fmt.rounded(low * 100)}% to {fmt.rounded(high * 100)}% (net margin over cost, across the "
            f"lift's {fmt.confidence(self.alpha)} CI), assuming {self.cost_per_unit:,.2f} {self.currency} per contact and a "
            f"{self.margin:.0%} margin; halve the cost and the ROI roughly doubles"
        )

    @property
    def break_even_lift(self) -> float:
        """Revenue lift per unit at which the campaign pays for itself."""
        return self.cost_per_unit / self.margin

    def summary(self) -> str:
        """One sentence: net value per batch with its interval, and the break-even lift."""
        est, low, high = self.net_per_batch
        verdict = (
            "pays for itself even at the low end of the interval" if low > 0
            else "loses money even at the high end of the interval" if high < 0
            else "may or may not pay for itself: the interval spans zero"
        )
        return (
            f"{self.arm}: every {self.per:,} customers contacted bring {est:,.0f} {self.currency} of net margin "
            f"({fmt.confidence(self.alpha)} CI {low:,.0f} to {high:,.0f} {self.currency}) at {self.margin:.0%} margin and "
            f"{self.cost_per_unit:,.2f} {self.currency} per contact; it {verdict}. It breaks even at a revenue lift of "
            f"{self.break_even_lift:,.3f} {self.currency} per unit; the test measured {self.lift:,.3f}. "
            f"Return on the cost: {self.roi_text()}."
        )

    def to_frame(self) -> pd.DataFrame:
        """One row: the arm, lift, net value per unit and per batch with intervals, the rounded ROI range, break-even.

        The ROI is text (:meth:`roi_text` without its assumptions): a range rounded to two
        significant digits, never a figure to the hundredth of a percent.
        """
        net, net_low, net_high = self.net_per_batch
        _, roi_low, roi_high = self.roi
        roi = (
            f"{fmt.rounded(roi_low * 100)}% to {fmt.rounded(roi_high * 100)}%"
            if math.isfinite(roi_low) and math.isfinite(roi_high) else "–"
        )
        return pd.DataFrame(
            [
                {
                    "arm": self.arm, "lift per unit": self.lift, "lift low": self.lift_low, "lift high": self.lift_high,
                    f"net per {self.per:,}": net, "net low": net_low, "net high": net_high,
                    "ROI (rounded range)": roi, "break-even lift": self.break_even_lift,
                }
            ]
        )


def campaign_roi(
    effect: MetricEffect, *, cost_per_unit: float, margin: float, currency: str | None = None, per: int = 1000
) -> CampaignROI:
    """The net value and ROI of one treatment arm from its revenue effect.

    Parameters
    ----------
    effect : MetricEffect
        Revenue per unit, treatment minus control (a ``mean`` metric in money).
    cost_per_unit : float
        Cost of one contact (>= 0).
    margin : float
        Gross margin share of revenue, in (0, 1].
    currency : str, optional
        Defaults to the effect's unit.
    per : int
        Units per reported batch.

    Returns
    -------
    CampaignROI

    Raises
    ------
    ValueError
        When a cost or margin is out of range, or the effect has no estimate.
    """
    if not (math.isfinite(cost_per_unit) and cost_per_unit >= 0):
        raise ValueError(f"campaign_roi: cost_per_unit = {cost_per_unit!r}; it must be a number >= 0")
    if not (0 < margin <= 1):
        raise ValueError(f"campaign_roi: margin = {margin!r}; it must be in (0, 1] (a share of revenue: 30% is 0.3)")
    if not effect.estimable:
        raise ValueError(f"campaign_roi: the effect of {effect.arm!r} on {effect.metric!r} has no estimate")
    return CampaignROI(
        effect.arm, effect.control_arm, effect.estimate_abs, effect.ci_low, effect.ci_high, float(margin),
        float(cost_per_unit), int(effect.n_treatment), currency or effect.unit, effect.alpha, per,
    )


__all__ = ["CampaignROI", "campaign_roi"]

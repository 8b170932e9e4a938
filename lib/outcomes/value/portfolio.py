"""All initiatives side by side, and together.

Side by side: investment, NPV range, ROI, payback, decision and IT demand per initiative.
Together: the portfolio's NPV, ROI and payback, computed draw by draw from the cases'
Monte Carlo draws (which share the draws of the numbers the initiatives have in common
and draw the rest independently, see :mod:`outcomes.value.montecarlo`), so its P10 to P90
is the range of the total, not the sum of the cases' ranges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from outcomes import format as fmt
from outcomes.errors import ParamsError
from outcomes.value import finance
from outcomes.value.montecarlo import InvestmentCase, finite_quantile, median_payback
from outcomes.value.recommendation import recommend

COLUMNS = [
    "initiative",
    "name",
    "investment",
    "npv_p10",
    "npv_p50",
    "npv_p90",
    "roi_p50",
    "payback_months",
    "prob_roi_positive",
    "decision",
    "recommendation",
    "it_demand_tickets_per_month",
]
#: Keys of a results.json ``portfolio`` row.
TOTAL_KEYS = (
    "initiatives",
    "npv_p50",
    "npv_p10",
    "npv_p90",
    "roi_p50",
    "payback_months",
    "prob_roi_positive",
    "prob_any_case_negative",
)
#: Name of the total's row in the portfolio tables.
TOTAL_LABEL = "All initiatives together"


@dataclass(frozen=True)
class PortfolioTotal:
    """The initiatives taken together: their draws summed draw by draw.

    Build it with :meth:`Portfolio.total`.

    Attributes
    ----------
    initiatives : tuple of str
        Initiative ids in the total.
    currency : str
        Currency of every amount.
    npv, pv_costs, payback_months : numpy.ndarray
        One value per draw; payback is NaN when the summed net benefits do not pay back
        within the horizon.
    any_case_negative : numpy.ndarray of bool
        Per draw, whether at least one initiative's NPV is below zero.
    """

    initiatives: tuple[str, ...]
    currency: str
    npv: np.ndarray
    pv_costs: np.ndarray
    payback_months: np.ndarray
    any_case_negative: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """The results.json ``portfolio`` row (exactly :data:`TOTAL_KEYS`).

        Returns
        -------
        dict
            ``initiatives`` (ids), the NPV's P50/P10/P90, median ROI (NPV over PV of
            costs, draw by draw), median payback in months (None when the median draw
            does not pay back within the horizon), the probability that the total NPV is
            positive and the probability that at least one initiative loses money.
        """
        return {
            "initiatives": list(self.initiatives),
            "npv_p50": float(np.quantile(self.npv, 0.5)),
            "npv_p10": float(np.quantile(self.npv, 0.1)),
            "npv_p90": float(np.quantile(self.npv, 0.9)),
            "roi_p50": finite_quantile(finance.roi(self.npv, self.pv_costs), 0.5),
            "payback_months": median_payback(self.payback_months),
            "prob_roi_positive": float(np.mean(self.npv > 0)),
            "prob_any_case_negative": float(np.mean(self.any_case_negative)),
        }


@dataclass(frozen=True)
class Portfolio:
    """Investment cases with their decisions and IT demand, sorted by median NPV.

    Build it with :func:`build_portfolio`.

    Attributes
    ----------
    cases : tuple of InvestmentCase
        One case per initiative.
    decisions : dict of str to str
        The statistics engine's decision per initiative id.
    it_demand : dict of str to float
        Tickets per month the initiative adds (positive) or removes (negative).
    totalled : dict of str to InvestmentCase
        By initiative id, the case that stands for it in :meth:`total` in place of its own
        (the case with its effect shrunk toward the others on the same IT metric,
        :mod:`outcomes.value.shrinkage`); the side-by-side rows keep the cases as measured.
    """

    cases: tuple[InvestmentCase, ...]
    decisions: dict[str, str] = field(default_factory=dict)
    it_demand: dict[str, float] = field(default_factory=dict)
    totalled: dict[str, InvestmentCase] = field(default_factory=dict)

    def to_frame(self, with_total: bool = False) -> pd.DataFrame:
        """One row per initiative, highest median NPV first.

        Parameters
        ----------
        with_total : bool
            With two initiatives or more, end with their total (:meth:`total`), named
            :data:`TOTAL_LABEL`, without an initiative id or a decision: its investment and
            IT demand are the sums of the initiatives' (of those stated, for the demand).

        Returns
        -------
        pandas.DataFrame
            Columns :data:`COLUMNS`; amounts in the cases' currency, ROI and probability as
            fractions, payback in months (None when not within the horizon).
        """
        rows = []
        for case in self.cases:
            d = case.details()
            rows.append(
                {
                    **{k: d[k] for k in COLUMNS[:9]},
                    "decision": self.decisions.get(case.initiative),
                    "recommendation": recommend(self.decisions.get(case.initiative), case.prob_roi_positive).text,
                    "it_demand_tickets_per_month": self.it_demand.get(case.initiative),
                }
            )
        frame = pd.DataFrame(rows, columns=COLUMNS)
        frame = frame.sort_values("npv_p50", ascending=False, kind="stable").reset_index(drop=True)
        if not with_total or len(self.cases) < 2:
            return frame
        total = self.total().to_dict()
        row = {k: total[k] for k in ("npv_p10", "npv_p50", "npv_p90", "roi_p50", "payback_months", "prob_roi_positive")}
        row.update(name=TOTAL_LABEL, investment=float(frame["investment"].sum()))
        row["it_demand_tickets_per_month"] = (
            frame["it_demand_tickets_per_month"].sum(min_count=1) if self.it_demand else None
        )
        return pd.concat([frame, pd.DataFrame([row], columns=COLUMNS)], ignore_index=True)

    def total(self) -> PortfolioTotal:
        """The initiatives together, summed draw by draw (each initiative's :attr:`totalled` case when it has one).

        Returns
        -------
        PortfolioTotal

        Raises
        ------
        ParamsError
            When there is no case, or the cases were drawn with different seeds, numbers of
            draws, currencies or horizons (their draws then do not line up).
        """
        if not self.cases:
            raise ParamsError("the portfolio has no investment case to total")
        cases = [self.totalled.get(c.initiative, c) for c in self.cases]
        first = cases[0]
        for attr, what in (("seed", "seeds"), ("n_draws", "numbers of draws"), ("currency", "currencies")):
            seen = {getattr(c, attr) for c in cases}
            if len(seen) > 1:
                found = ", ".join(f"{c.initiative}: {getattr(c, attr)}" for c in cases)
                raise ParamsError(
                    f"the cases have different {what} ({found}); build them with one seed, one number "
                    "of draws and one value model so that their draws can be summed"
                )
        widths = {c.net_flows.shape[-1] for c in cases}
        if len(widths) > 1:
            raise ParamsError("the cases have different horizons; build them from one value model")
        net = np.sum([c.net_flows for c in cases], axis=0)
        return PortfolioTotal(
            initiatives=tuple(c.initiative for c in cases),
            currency=first.currency,
            npv=np.sum([c.npv for c in cases], axis=0),
            pv_costs=np.sum([c.pv_costs for c in cases], axis=0),
            payback_months=finance.payback_months(net),
            any_case_negative=np.any([c.npv < 0 for c in cases], axis=0),
        )

    def summary(self) -> pd.DataFrame:
        """The portfolio in executive wording (formatted text), highest median NPV first.

        With two initiatives or more, a last row gives them together (:meth:`total`):
        its investment is the sum, its NPV range the range of the summed draws; the frame's
        ``attrs["total_row"]`` then tells report tables to set it apart.
        """
        currency = self.cases[0].currency if self.cases else "EUR"
        frame = self.to_frame(with_total=True)
        total = frame["name"] == TOTAL_LABEL
        out = pd.DataFrame(
            {
                "Initiative": frame["name"],
                "Investment (PV)": [fmt.money(x, currency) for x in frame["investment"]],
                "NPV (P50)": [fmt.money(x, currency) for x in frame["npv_p50"]],
                "NPV P10 to P90": [
                    fmt.money_range(lo, hi, currency)
                    for lo, hi in zip(frame["npv_p10"], frame["npv_p90"], strict=True)
                ],
                "ROI (P50)": [fmt.percent(x) for x in frame["roi_p50"]],
                "Payback": [fmt.months(x) for x in frame["payback_months"]],
                "Chance ROI > 0": [fmt.probability(x) for x in frame["prob_roi_positive"]],
                "Decision": ["" if is_total else r for r, is_total in zip(frame["recommendation"], total, strict=True)],
                "IT demand (tickets/month)": [
                    fmt.count(x, signed=True) for x in frame["it_demand_tickets_per_month"]
                ],
            }
        )
        out.attrs["total_row"] = bool(total.any())
        return out


def build_portfolio(
    cases: Sequence[InvestmentCase],
    decisions: Mapping[str, str] | None = None,
    it_demand: Mapping[str, float] | None = None,
    totalled: Mapping[str, InvestmentCase] | None = None,
) -> Portfolio:
    """Put investment cases side by side.

    Parameters
    ----------
    cases : sequence of InvestmentCase
        One per initiative (from :func:`outcomes.value.montecarlo.simulate`).
    decisions : mapping of str to str, optional
        Decision per initiative id, from the statistics engine.
    it_demand : mapping of str to float, optional
        Tickets per month added (positive) or removed (negative) per initiative id.
    totalled : mapping of str to InvestmentCase, optional
        Per initiative id, the case its total uses in place of its own (:attr:`Portfolio.totalled`).

    Returns
    -------
    Portfolio

    Raises
    ------
    ParamsError
        When an initiative appears twice, or a decision or demand names an unknown initiative.
    """
    ids = [c.initiative for c in cases]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ParamsError(f"initiative(s) {dupes} appear more than once in the portfolio; pass one case each")
    for label, given in (("decisions", decisions), ("it_demand", it_demand), ("totalled", totalled)):
        unknown = sorted(set(given or {}) - set(ids))
        if unknown:
            raise ParamsError(f"{label} names unknown initiative(s) {unknown}; the cases are: {', '.join(ids)}")
    return Portfolio(
        tuple(cases), dict(decisions or {}), {k: float(v) for k, v in (it_demand or {}).items()}, dict(totalled or {})
    )

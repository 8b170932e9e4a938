"""All initiatives side by side: investment, NPV range, ROI, payback, decision, IT demand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from outcomes import narrative
from outcomes.errors import ParamsError
from outcomes.roi.montecarlo import InvestmentCase

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
    "it_demand_tickets_per_month",
]


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
    """

    cases: tuple[InvestmentCase, ...]
    decisions: dict[str, str] = field(default_factory=dict)
    it_demand: dict[str, float] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """One row per initiative, highest median NPV first.

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
                    "it_demand_tickets_per_month": self.it_demand.get(case.initiative),
                }
            )
        frame = pd.DataFrame(rows, columns=COLUMNS)
        return frame.sort_values("npv_p50", ascending=False, kind="stable").reset_index(drop=True)

    def summary(self) -> pd.DataFrame:
        """The portfolio in executive wording (formatted text), highest median NPV first."""
        currency = self.cases[0].currency if self.cases else "EUR"
        frame = self.to_frame()
        return pd.DataFrame(
            {
                "Initiative": frame["name"],
                "Investment (PV)": [narrative.fmt_money(x, currency) for x in frame["investment"]],
                "NPV (P50)": [narrative.fmt_money(x, currency) for x in frame["npv_p50"]],
                "NPV P10 to P90": [
                    narrative.fmt_money_range(lo, hi, currency)
                    for lo, hi in zip(frame["npv_p10"], frame["npv_p90"], strict=True)
                ],
                "ROI (P50)": [narrative.fmt_percent(x) for x in frame["roi_p50"]],
                "Payback": [narrative.fmt_months(x) for x in frame["payback_months"]],
                "Chance ROI > 0": [narrative.fmt_probability(x) for x in frame["prob_roi_positive"]],
                "Decision": [d if isinstance(d, str) else "no decision yet" for d in frame["decision"]],
                "IT demand (tickets/month)": [
                    narrative.fmt_count(x, signed=True) for x in frame["it_demand_tickets_per_month"]
                ],
            }
        )


def build_portfolio(
    cases: Sequence[InvestmentCase],
    decisions: Mapping[str, str] | None = None,
    it_demand: Mapping[str, float] | None = None,
) -> Portfolio:
    """Put investment cases side by side.

    Parameters
    ----------
    cases : sequence of InvestmentCase
        One per initiative (from :func:`outcomes.roi.montecarlo.simulate`).
    decisions : mapping of str to str, optional
        Decision per initiative id, from the statistics engine.
    it_demand : mapping of str to float, optional
        Tickets per month added (positive) or removed (negative) per initiative id.

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
    for label, given in (("decisions", decisions), ("it_demand", it_demand)):
        unknown = sorted(set(given or {}) - set(ids))
        if unknown:
            raise ParamsError(f"{label} names unknown initiative(s) {unknown}; the cases are: {', '.join(ids)}")
    return Portfolio(tuple(cases), dict(decisions or {}), {k: float(v) for k, v in (it_demand or {}).items()})

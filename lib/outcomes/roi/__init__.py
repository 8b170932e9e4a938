"""ROI of IT initiatives in the business's terms.

``value`` turns an IT metric change into money per month (``params/value.yaml``),
``finance`` computes TEI cash flows (PV, NPV, ROI, payback), ``montecarlo`` carries the
uncertainty through to P10/P50/P90, ``portfolio`` puts initiatives side by side and
``charts`` draws them.
"""

from outcomes.roi.finance import CashFlowCase, tei
from outcomes.roi.montecarlo import InvestmentCase, simulate
from outcomes.roi.portfolio import Portfolio, build_portfolio
from outcomes.roi.value import Effect, Quantity, ValueInputs, ValueModel, load_value_model

__all__ = [
    "CashFlowCase",
    "Effect",
    "InvestmentCase",
    "Portfolio",
    "Quantity",
    "ValueInputs",
    "ValueModel",
    "build_portfolio",
    "load_value_model",
    "simulate",
    "tei",
]

"""ROI of IT initiatives in the business's terms.

``value`` turns an IT metric change into money per month (``params/value.yaml``),
``finance`` computes TEI cash flows (PV, NPV, ROI, payback), ``montecarlo`` carries the
uncertainty through to P10/P50/P90, ``portfolio`` puts initiatives side by side and
and the report draws them (:mod:`outcomes.report.value_charts`).
"""

from outcomes.value.finance import CashFlowCase, tei
from outcomes.value.montecarlo import InvestmentCase, simulate
from outcomes.value.portfolio import Portfolio, build_portfolio
from outcomes.value.model import Effect, Quantity, ValueInputs, ValueModel, load_value_model

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

"""TEI cash flows: PV with an undiscounted initial column, NPV, ROI, payback, risk adjustment."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from outcomes.errors import ParamsError
from outcomes.value import finance

# Forrester, "The Total Economic Impact of SalesLoft", Financial Summary, Cash Flow Table
# (risk-adjusted), 10% discount rate: INITIAL, YEAR 1, YEAR 2, YEAR 3, TOTAL, PRESENT VALUE.
SALESLOFT_COSTS = [53_150, 666_715, 636_772, 647_783]  # total 2,004,420; PV 1,672,201
SALESLOFT_BENEFITS = [0, 1_606_511, 3_061_331, 4_229_760]  # total 8,897,602; PV 7,168,371
# Net benefits PV 5,496,170; ROI 329%; payback period < 6 months.


def test_salesloft_published_tei_is_reproduced():
    case = finance.tei(SALESLOFT_BENEFITS, SALESLOFT_COSTS)
    assert round(case.pv_costs) == 1_672_201
    assert round(case.pv_benefits) == 7_168_371
    assert round(case.npv) == 5_496_170
    assert round(100 * case.roi) == 329
    # cumulative net: -53,150 at time 0, +886,646 after year 1: 53,150 / 939,796 of year 1
    # = 0.0566 x 12 = 0.68 months, "< 6 months" in the study.
    assert_allclose(case.payback_months, 12 * 53_150 / 939_796)
    assert case.payback_months < 6
    table = case.to_frame()
    assert table.loc["Total costs", "Total"] == 2_004_420
    assert table.loc["Total benefits", "Total"] == 8_897_602
    assert round(table.loc["Net benefits", "Present value"]) == 5_496_170


def test_salesloft_roi_from_present_values():
    # ROI = (PV benefits - PV costs) / PV costs = (7,168,371 - 1,672,201) / 1,672,201 = 3.2868
    assert round(100 * float(finance.roi(7_168_371 - 1_672_201, 1_672_201))) == 329


def test_hand_worked_three_year_case():
    # benefits 0, 100, 200, 300 and costs 150, 50, 50, 50 at 10%:
    # PV(B) = 100/1.1 + 200/1.21 + 300/1.331 = 90.9091 + 165.2893 + 225.3944 = 481.5928
    # PV(C) = 150 + 50/1.1 + 50/1.21 + 50/1.331 = 150 + 45.4545 + 41.3223 + 37.5657 = 274.3426
    # NPV = 207.2502; ROI = 207.2502 / 274.3426 = 0.75544
    # net -150, 50, 150, 250: cumulative -150, -100, +50 -> 100/150 of year 2 -> 12 + 8 = 20 months
    case = finance.tei([0, 100, 200, 300], [150, 50, 50, 50])
    assert_allclose(case.pv_benefits, 481.5928, atol=1e-4)
    assert_allclose(case.pv_costs, 274.3426, atol=1e-4)
    assert_allclose(case.npv, 207.2502, atol=1e-4)
    assert_allclose(case.roi, 0.75544, atol=1e-5)
    assert_allclose(case.payback_months, 20.0)


def test_initial_column_is_not_discounted():
    # 100 now, 110 in a year and 121 in two years are all worth 100 today at 10%.
    assert_allclose(finance.present_value([[100, 0, 0], [0, 110, 0], [0, 0, 121]]), [100, 100, 100])
    assert_allclose(finance.discount_factors(3), [1, 1 / 1.1, 1 / 1.21, 1 / 1.331])
    assert_allclose(finance.present_value([100, 100, 100, 100], rate=0.0), 400)


@pytest.mark.parametrize(
    ("net", "months"),
    [
        ([-100, 60, 60, 60], 20.0),  # -100, -40, +20: 40/60 into year 2
        ([-120, 120, 0, 0], 12.0),  # recovered exactly at the end of year 1
        ([-60, 120, 0, 0], 6.0),  # half of year 1
        ([0, -50, 100, 0], 18.0),  # cost in year 1: 0, -50, +50 -> half of year 2
        ([0, 10, 10, 10], 0.0),  # never negative: pays back at once
        ([-100, 10, 10, 10], np.nan),  # -70 at the end: not within the horizon
        ([-100, 150, -200, 10], 8.0),  # earliest recovery (100/150 of year 1), even if it dips again
    ],
)
def test_payback_interpolates_months(net, months):
    assert_allclose(finance.payback_months(net), months, equal_nan=True)


def test_payback_is_vectorized_over_draws():
    rows = np.array([[-100, 60, 60, 60], [-100, 10, 10, 10], [-60, 120, 0, 0]])
    assert_allclose(finance.payback_months(rows), [20.0, np.nan, 6.0], equal_nan=True)


def test_risk_adjustment_cuts_benefits_and_raises_costs():
    # benefits x (1 - 0.2), costs x (1 + 0.1): PV(B') = 80 x (1/1.1 + 1/1.21 + 1/1.331) = 198.9482,
    # PV(C') = 110 + 11 x 2.486852 = 137.3554
    case = finance.tei([0, 100, 100, 100], [100, 10, 10, 10], benefit_risk=0.2, cost_risk=0.1)
    assert_allclose(case.total_benefits, [0, 80, 80, 80])
    assert_allclose(case.total_costs, [110, 11, 11, 11])
    assert_allclose(case.pv_benefits, 198.9482, atol=1e-4)
    assert_allclose(case.pv_costs, 137.3554, atol=1e-4)
    # a loss is not shrunk by the risk adjustment: it grows
    assert_allclose(finance.risk_adjust_benefits([-100, 100], 0.2), [-120, 80])


def test_risk_per_line_item():
    case = finance.tei(
        {"tickets": [0, 100, 100, 100], "churn": [0, 50, 50, 50]},
        {"licence": [10, 10, 10, 10]},
        benefit_risk={"churn": 0.5},
    )
    assert_allclose(case.total_benefits, [0, 125, 125, 125])
    assert list(case.to_frame().index[:3]) == ["tickets", "churn", "Total benefits"]
    with pytest.raises(ParamsError, match="unknown line.*'revenue'.*tickets, churn"):
        finance.tei({"tickets": [0, 1], "churn": [0, 1]}, [1, 0], benefit_risk={"revenue": 0.1})


@pytest.mark.parametrize(("kwargs", "message"), [({"benefit_risk": 1.0}, r"\[0, 1\)"), ({"cost_risk": -0.1}, "0 or more")])
def test_invalid_risk_is_refused(kwargs, message):
    with pytest.raises(ParamsError, match=message):
        finance.tei([0, 1], [1, 0], **kwargs)


def test_roi_without_costs_is_undefined_and_lengths_must_match():
    assert np.isnan(finance.tei([0, 10], [0, 0]).roi)
    with pytest.raises(ParamsError, match="same number of columns"):
        finance.tei([0, 1, 2], [1, 0])
    with pytest.raises(ParamsError, match="above -1"):
        finance.discount_factors(3, rate=-1.0)


def test_cash_flow_table_columns_and_totals():
    table = finance.tei([0, 100, 200, 300], [150, 50, 50, 50]).to_frame()
    assert list(table.columns) == ["Initial", "Year 1", "Year 2", "Year 3", "Total", "Present value"]
    assert list(table.index) == ["Benefits", "Total benefits", "Costs", "Total costs", "Net benefits", "Cumulative net benefits"]
    assert table.loc["Net benefits", "Total"] == 600 - 300
    assert list(table.loc["Cumulative net benefits", ["Initial", "Year 1", "Year 2", "Year 3"]]) == [-150, -100, 50, 300]


def test_docstring_examples_hold():
    import doctest

    assert doctest.testmod(finance).failed == 0

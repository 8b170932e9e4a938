"""Power from history: the warehouse's pre-period variance and intake size a new test.

Checked against a hand computation on the ticket rows (pandas), statsmodels'
``NormalIndPower`` and ``tt_ind_solve_power``, and by a seeded simulation that resamples
the pre-period tickets with a planted effect of the planned size.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower, tt_ind_solve_power
from typer.testing import CliRunner

from outcomes.cli import app
from outcomes.errors import ParamsError
from outcomes.experiment.randomized.history import WEEKS_PER_MONTH, metric_history
from outcomes.experiment.spec import InitiativeSpec
from outcomes.params import load
from outcomes.warehouse import store

runner = CliRunner()


@pytest.fixture(scope="module")
def con(demo_warehouse: Path):
    connection = store.connect(demo_warehouse)
    yield connection
    connection.disconnect()


def _tickets(con, start, end) -> pd.DataFrame:
    """The pre-period tickets with a first response, hours computed in pandas (the hand computation)."""
    t = con.table("tickets").select("requester_type", "requester_id", "opened_at", "first_response_at").execute()
    t = t[(t["opened_at"] >= pd.Timestamp(start)) & (t["opened_at"] < pd.Timestamp(end))]
    t = t.assign(hours=(t["first_response_at"] - t["opened_at"]).dt.total_seconds() / 3600)
    return t[t["hours"].notna()]


def test_ticket_history_matches_hand_computation(con) -> None:
    h = metric_history(con, "first_response_mean_hours", "ticket", months=3)
    assert (h.end.year * 12 + h.end.month) - (h.start.year * 12 + h.start.month) == 3 and h.start.day == 1
    t = _tickets(con, h.start, h.end)
    assert h.n == len(t)
    assert h.mean == pytest.approx(t["hours"].mean(), rel=1e-9)
    assert h.variance == pytest.approx(t["hours"].var(ddof=1), rel=1e-9)
    assert h.units_per_month == pytest.approx(len(t) / 3)


def test_customer_history_uses_delta_method_on_customer_months(con) -> None:
    """Per customer-month m = Σ hours, d = tickets; the delta-method variance equals the
    variance of the linearized (m − R d)/mean(d) (ddof 1)."""
    h = metric_history(con, "first_response_mean_hours", "customer", months=3)
    t = _tickets(con, h.start, h.end)
    t = t[(t["requester_type"] == "customer") & t["requester_id"].notna()]
    per = t.groupby([t["requester_id"], t["opened_at"].dt.to_period("M")])["hours"].agg(["sum", "count"])
    r = per["sum"].sum() / per["count"].sum()
    lin = (per["sum"] - r * per["count"]) / per["count"].mean()
    assert h.n == len(per) and h.mean == pytest.approx(r, rel=1e-9)
    assert h.variance == pytest.approx(lin.var(ddof=1), rel=1e-9)
    assert h.units_per_month == pytest.approx(len(per) / 3)


def test_plan_matches_statsmodels_power(con) -> None:
    """Units per arm: ``NormalIndPower().solve_power(effect_size=mde / sd, alpha=0.05, power=0.8)``, rounded up;
    the t-test version ``tt_ind_solve_power`` needs at most 2 more."""
    h = metric_history(con, "first_response_mean_hours", "ticket")
    p = h.plan(0.1)
    z_n = NormalIndPower().solve_power(effect_size=0.1 / h.sd, alpha=0.05, power=0.8)
    assert p.n_control == math.ceil(z_n)
    assert 0 <= tt_ind_solve_power(effect_size=0.1 / h.sd, alpha=0.05, power=0.8) - p.n_control <= 2
    text = h.comment(0.1)
    weeks = math.ceil(2 * p.n_control / h.units_per_month * WEEKS_PER_MONTH)
    assert f"about {p.n_control:,} tickets per arm" in text and f"about {weeks} weeks at the current intake" in text


def test_planted_effect_of_the_planned_size_is_found_with_planned_power(con) -> None:
    """Resample the pre-period tickets (seed 2024) into two arms of the planned size, add the MDE to one:
    about 80% of 1,000 tests find it (Welch, two-sided 0.05)."""
    h = metric_history(con, "first_response_mean_hours", "ticket")
    mde = 0.3
    n = h.plan(mde).n_control
    hours = _tickets(con, h.start, h.end)["hours"].to_numpy()
    rng = np.random.default_rng(2024)
    yc = rng.choice(hours, (1000, n))
    yt = rng.choice(hours, (1000, n)) + mde
    p = stats.ttest_ind(yt, yc, axis=1, equal_var=False).pvalue
    assert 0.76 <= np.mean(p < 0.05) <= 0.84


def test_new_initiative_writes_the_plan_in_the_template(tmp_path: Path, demo_warehouse: Path) -> None:
    res = runner.invoke(app, [
        "new-initiative", "faster-first-answer", "--folder", str(tmp_path),
        "--assignment", "randomized", "--metric", "first_response_mean_hours", "--mde", "0.1",
    ])
    assert res.exit_code == 0, res.output
    path = tmp_path / "faster-first-answer.yaml"
    text = path.read_text(encoding="utf-8")
    assert "# Planned from the warehouse" in text and "tickets per arm" in text and "weeks at the current intake" in text
    assert load(path, InitiativeSpec).design == "randomized"


def test_planning_errors_name_the_option(tmp_path: Path, con) -> None:
    res = runner.invoke(app, ["new-initiative", "x", "--folder", str(tmp_path), "--assignment", "randomized",
                              "--metric", "first_response_mean_hours"])
    assert res.exit_code == 2 and "needs both" in res.output
    with pytest.raises(ParamsError, match=r"--metric 'nps'.*valid metrics are: first_response_mean_hours"):
        metric_history(con, "nps")
    with pytest.raises(ParamsError, match=r"--unit 'queue'.*valid units are: ticket, customer"):
        metric_history(con, "mttr_hours", "queue")  # type: ignore[arg-type]

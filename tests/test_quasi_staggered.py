"""Staggered adoption (experiment/quasi/staggered.py): goldens, simulation, the review path, conditions.

Goldens: csdid 0.4.3 (the Python port of R ``did``) and pyfixest 0.60.0 on the generated panel
tests/data/staggered_panel.csv (tests/golden/make_staggered_panel.py). The public county
teen-employment panel (mpdta) is not used: none of csdid, differences or pyfixest ships it (csdid
reads it from the R package's repository over the network), and its origin, the R package ``did``,
is GPL-2 while this repository is MIT, so it is not committed either.

The GOLDEN dictionary is the output of (in a separate environment, never the project's)::

    python3 -m venv /work/refenv-stagger
    /work/refenv-stagger/bin/pip install csdid==0.4.3 pyfixest==0.60.0
    /work/refenv-stagger/bin/python tests/golden/staggered_reference.py

``nevertreated``/``notyettreated``: ``ATTgt(yname="tickets", tname="year", idname="id",
gname="first_year", control_group=...).fit(est_method="reg", base_period="varying", bstrap=False)``;
``att_gt`` rows are (group, year, att, se) of ``model.results``; ``pretest_W`` is ``model.MP["W"]``;
``simple``/``dynamic``/``group`` are ``(overall_att, overall_se)`` of ``model.aggte(typec=..., bstrap=False)``
and the ``*_detail`` rows ``(egt, att_egt, se_egt)``. ``no_never_treated``: the same with ``control_group="notyettreated"`` on the waves alone
(``first_year > 0``). ``sun_abraham``: pyfixest ``feols("tickets ~
<cohort x year-since-start dummies> | id + year", vcov={"CRV1": "id"})``, cells (cohort, event time,
coefficient, se), overall = cohort-size weighted post-start coefficients with ``sqrt(w' V w)``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import stats
from typer.testing import CliRunner

from outcomes.cli import app
from outcomes.experiment.quasi.analysis import has_interval
from outcomes.experiment.quasi.panel import NO_CONTROL_UNITS, PRE_TREND, UNKNOWN_TREATED_UNITS, QuasiInputError
from outcomes.experiment.quasi.staggered import (
    NEVER,
    TREATED_FROM_FIRST_PERIOD,
    aggregate,
    callaway_santanna,
    group_time_effects,
    interaction_weighted,
    prepare_rollout,
    staggered_adoption,
    staggered_twfe,
    standard_error,
    uniform_critical_value,
)
from outcomes.experiment.results import ACTIONS
from outcomes.experiment.spec import InitiativeSpec
from outcomes.report import results as report_results
from outcomes.report.review import review

DATA = Path(__file__).resolve().parent / "data" / "staggered_panel.csv"

GOLDEN = {'nevertreated': {'pretest_W': 17.9061939294,
                  'att_gt': [(2003, 2002, 0.5081181111, 0.3317911069),
                             (2003, 2003, 1.3498313, 0.3111249087),
                             (2003, 2004, 1.8080716889, 0.2701571513),
                             (2003, 2005, 1.9893862111, 0.2956048508),
                             (2003, 2006, 2.5325495333, 0.3207472953),
                             (2003, 2007, 2.8195059333, 0.3278904617),
                             (2003, 2008, 3.2712786889, 0.3388230235),
                             (2005, 2002, -0.1320724889, 0.3579574903),
                             (2005, 2003, -0.2397278333, 0.3264035293),
                             (2005, 2004, 0.3968619889, 0.3257721862),
                             (2005, 2005, 0.3231894556, 0.3134767916),
                             (2005, 2006, 0.8545792444, 0.3070090985),
                             (2005, 2007, 1.4099604444, 0.2895425363),
                             (2005, 2008, 2.1799833333, 0.3047528346),
                             (2006, 2002, 0.0977600278, 0.3563980031),
                             (2006, 2003, -0.089346, 0.3464647927),
                             (2006, 2004, -0.7439948611, 0.285931566),
                             (2006, 2005, 0.3370609722, 0.2554431964),
                             (2006, 2006, 1.2239666389, 0.3010967799),
                             (2006, 2007, 1.3706672222, 0.4026100614),
                             (2006, 2008, 2.0286161111, 0.2995194285)],
                  'simple': (1.7933012751, 0.1696991915),
                  'dynamic': (2.0884143618, 0.1730449555),
                  'dynamic_detail': [(-4, 0.0977600278, 0.3563980031),
                                     (-3, -0.1130829383, 0.2374235782),
                                     (-2, -0.4638465123, 0.2030232903),
                                     (-1, 0.4195103135, 0.1755228093),
                                     (0, 0.9472121667, 0.1774568089),
                                     (1, 1.3425659683, 0.1969709895),
                                     (2, 1.7936569802, 0.1685434755),
                                     (3, 2.3562664333, 0.214189197),
                                     (4, 2.8195059333, 0.3278904617),
                                     (5, 3.2712786889, 0.3388230235)],
                  'group': (1.6856780969, 0.1626803775),
                  'group_detail': [(2003, 2.2951038926, 0.2306051217),
                                   (2005, 1.1919281194, 0.2255685663),
                                   (2006, 1.5410833241, 0.2564807311)]},
 'notyettreated': {'pretest_W': 17.6705865494,
                   'att_gt': [(2003, 2002, 0.5260729333, 0.2732071741),
                              (2003, 2003, 1.4535661778, 0.2712038796),
                              (2003, 2004, 1.9779178667, 0.2501253369),
                              (2003, 2005, 2.1878981667, 0.2933111937),
                              (2003, 2006, 2.5325495333, 0.3207472953),
                              (2003, 2007, 2.8195059333, 0.3278904617),
                              (2003, 2008, 3.2712786889, 0.3388230235),
                              (2005, 2002, -0.3275145333, 0.3026988966),
                              (2005, 2003, -0.2039894333, 0.3024699436),
                              (2005, 2004, 0.6944599333, 0.3175703663),
                              (2005, 2005, 0.1883650667, 0.2946586847),
                              (2005, 2006, 0.8545792444, 0.3070090985),
                              (2005, 2007, 1.4099604444, 0.2895425363),
                              (2005, 2008, 2.1799833333, 0.3047528346),
                              (2006, 2002, -0.0197542292, 0.3017085776),
                              (2006, 2003, 0.019621197, 0.3216840162),
                              (2006, 2004, -0.9243866742, 0.2810236236),
                              (2006, 2005, 0.3370609722, 0.2554431964),
                              (2006, 2006, 1.2239666389, 0.3010967799),
                              (2006, 2007, 1.3706672222, 0.4026100614),
                              (2006, 2008, 2.0286161111, 0.2995194285)],
                   'simple': (1.8205003575, 0.1741092003),
                   'dynamic': (2.108489875, 0.1728244326),
                   'dynamic_detail': [(-4, -0.0197542292, 0.3017085776),
                                      (-3, -0.1732319865, 0.2492242329),
                                      (-2, -0.5241659848, 0.2424960201),
                                      (-1, 0.5322077302, 0.173973625),
                                      (0, 0.9361087698, 0.1753194575),
                                      (1, 1.4032253175, 0.2124935175),
                                      (2, 1.8645541071, 0.181455378),
                                      (3, 2.3562664333, 0.214189197),
                                      (4, 2.8195059333, 0.3278904617),
                                      (5, 3.2712786889, 0.3388230235)],
                   'group': (1.7017409795, 0.168851199),
                   'group_detail': [(2003, 2.3737860611, 0.2159972216),
                                    (2005, 1.1582220222, 0.2213100038),
                                    (2006, 1.5410833241, 0.2564807311)]},
 'no_never_treated': {'att_gt': [(2003, 2002, 0.5380428148, 0.297378033),
                                 (2003, 2003, 1.522722763, 0.2982989678),
                                 (2003, 2004, 2.0911486519, 0.2885743449),
                                 (2003, 2005, 2.4856661, 0.3799617453),
                                 (2005, 2002, -0.4578092296, 0.3193248647),
                                 (2005, 2003, -0.1503818333, 0.3751990518),
                                 (2005, 2004, 1.14085685, 0.3618281596),
                                 (2005, 2005, -0.0138715167, 0.3263990455)],
                      'simple': (1.5214164995, 0.2645163899),
                      'dynamic': (1.777080125, 0.244672248),
                      'group': (1.0096538275, 0.290687908)},
 'sun_abraham': {'cells': [(2003, -2, -0.5081181111, 0.3448211107),
                           (2003, 0, 1.3498313, 0.3233433156),
                           (2003, 1, 1.8080716889, 0.2807666844),
                           (2003, 2, 1.9893862111, 0.3072137585),
                           (2003, 3, 2.5325495333, 0.3333435897),
                           (2003, 4, 2.8195059333, 0.3407672805),
                           (2003, 5, 3.2712786889, 0.3521291827),
                           (2005, -4, -0.0250616667, 0.3228968969),
                           (2005, -3, -0.1571341556, 0.293078612),
                           (2005, -2, -0.3968619889, 0.3385658167),
                           (2005, 0, 0.3231894556, 0.3257875609),
                           (2005, 1, 0.8545792444, 0.3190658705),
                           (2005, 2, 1.4099604444, 0.3009133666),
                           (2005, 3, 2.1799833333, 0.3167209992),
                           (2006, -5, 0.3985198611, 0.3296203795),
                           (2006, -4, 0.4962798889, 0.3428323646),
                           (2006, -3, 0.4069338889, 0.3006152251),
                           (2006, -2, -0.3370609722, 0.2654748873),
                           (2006, 0, 1.2239666389, 0.312921365),
                           (2006, 1, 1.3706672222, 0.4184212466),
                           (2006, 2, 2.0286161111, 0.3112820683)],
                 'overall': (1.7933012751, 0.1547084797)}}


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return pd.read_csv(DATA)


def _rollout(frame: pd.DataFrame) -> dict[str, int]:
    treated = frame[frame["first_year"] > 0]
    return {str(k): int(v) for k, v in treated.groupby("region")["first_year"].first().items()}


@pytest.mark.parametrize(("control", "key"), [("never", "nevertreated"), ("notyet", "notyettreated")])
def test_callaway_santanna_equals_csdid(panel: pd.DataFrame, control: str, key: str) -> None:
    r = prepare_rollout(panel, unit="region", period="year", outcome="tickets", rollout=_rollout(panel))
    cs = callaway_santanna(r, control=control)  # type: ignore[arg-type]
    gold = GOLDEN[key]
    ref = pd.DataFrame(gold["att_gt"], columns=["group", "year", "att", "se"])
    assert cs.att_gt["group"].astype(int).tolist() == ref["group"].tolist()
    assert cs.att_gt["period"].astype(int).tolist() == ref["year"].tolist()
    assert_allclose(cs.att_gt["estimate"], ref["att"], atol=1e-8)
    assert_allclose(cs.att_gt["se"], ref["se"], atol=1e-8)
    for name, est in (("simple", cs.simple), ("dynamic", cs.dynamic_overall), ("group", cs.group_overall)):
        assert_allclose([est.estimate, est.se], gold[name], atol=1e-8)
    dyn = pd.DataFrame(gold["dynamic_detail"], columns=["e", "att", "se"])
    assert cs.dynamic["rel"].tolist() == dyn["e"].tolist()
    assert_allclose(cs.dynamic[["estimate", "se"]].to_numpy(), dyn[["att", "se"]].to_numpy(), atol=1e-8)
    grp = pd.DataFrame(gold["group_detail"], columns=["g", "att", "se"])
    assert_allclose(cs.group[["estimate", "se"]].to_numpy(), grp[["att", "se"]].to_numpy(), atol=1e-8)
    assert cs.pretrend is not None
    assert cs.pretrend.statistic == pytest.approx(gold["pretest_W"], abs=1e-8)


def test_without_never_treated_units_the_last_wave_compares_as_in_csdid(panel: pd.DataFrame) -> None:
    waves = panel[panel["first_year"] > 0]
    r = prepare_rollout(waves, unit="region", period="year", outcome="tickets", rollout=_rollout(waves))
    cs = callaway_santanna(r, control="notyet")
    gold = GOLDEN["no_never_treated"]
    ref = pd.DataFrame(gold["att_gt"], columns=["group", "year", "att", "se"])
    assert cs.att_gt["period"].astype(int).tolist() == ref["year"].tolist()
    assert_allclose(cs.att_gt[["estimate", "se"]].to_numpy(), ref[["att", "se"]].to_numpy(), atol=1e-8)
    for name, est in (("simple", cs.simple), ("dynamic", cs.dynamic_overall), ("group", cs.group_overall)):
        assert_allclose([est.estimate, est.se], gold[name], atol=1e-8)


def test_sun_abraham_equals_pyfixest(panel: pd.DataFrame) -> None:
    r = prepare_rollout(panel, unit="region", period="year", outcome="tickets", rollout=_rollout(panel))
    sa = interaction_weighted(r.y, r.cohort)
    gold = GOLDEN["sun_abraham"]
    years = [int(p) for p in r.periods]
    assert [(years[g], e) for g, e in sa.cells] == [(g, e) for g, e, _, _ in gold["cells"]]
    assert_allclose(sa.cell_estimate[:, 0], [c[2] for c in gold["cells"]], atol=1e-8)
    assert_allclose(sa.cell_se[:, 0], [c[3] for c in gold["cells"]], atol=1e-8)
    assert_allclose([sa.overall[0], sa.overall_se[0]], gold["overall"], atol=1e-8)


# ------------------------------------------------------------------ simulation

T = 8
POS = np.arange(T)
STARTS = np.array([2, 4, 6, NEVER])


def _effects(cohort: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Treated cells and effects: growing 0.5 a period since the start, half as large again in the first wave."""
    e = POS[None, :] - cohort[:, None]
    treated = (cohort[:, None] != NEVER) & (e >= 0)
    return treated, np.where(treated, (1 + 0.5 * e) * np.where(cohort[:, None] == 2, 1.5, 1.0), 0.0)


def _outcomes(rng: np.random.Generator, tau: np.ndarray, s: int) -> np.ndarray:
    n = tau.shape[0]
    return rng.normal(0, 1, (n, 1, s)) + 0.3 * POS[None, :, None] + tau[:, :, None] + rng.normal(0, 1, (n, T, s))


@pytest.mark.slow  # about 1 s alone, 8 s on a loaded machine
def test_callaway_santanna_unbiased_and_calibrated() -> None:
    # Units draw their wave at random (the sampling model of the influence function, which
    # also carries the estimated shares of the waves): 1,000 panels of 200 units x 8 periods.
    treated, tau = _effects(STARTS)
    truth = tau[treated].mean()  # waves equally likely
    z = stats.norm.ppf(0.975)
    est, covered = np.empty(1000), np.empty(1000, dtype=bool)
    for seed in range(1000):
        rng = np.random.default_rng(seed)
        cohort = rng.choice(STARTS, 200)
        agg = aggregate(group_time_effects(_outcomes(rng, _effects(cohort)[1], 1), cohort), cohort, "simple")
        est[seed] = agg.overall[0]
        covered[seed] = abs(agg.overall[0] - truth) <= z * standard_error(agg.overall_influence)[0]
    assert abs(est.mean() - truth) < 0.05 * truth  # measured 0.08%
    assert 0.93 <= covered.mean() <= 0.97  # measured 0.951


@pytest.mark.slow  # about 2 s alone, 13 s on a loaded machine
def test_sun_abraham_unbiased_and_calibrated_where_two_way_fixed_effects_are_biased() -> None:
    # The cross-check's interval takes the waves' sizes as known: 60 units, 15 per wave (and never
    # treated), 1,000 panels solved as outcome columns of one regression.
    cohort = np.repeat(STARTS, 15)
    treated, tau = _effects(cohort)
    truth = tau[treated].mean()
    y = _outcomes(np.random.default_rng(1), tau, 1000)
    sa = interaction_weighted(y, cohort)
    covered = np.abs(sa.overall - truth) <= stats.t.ppf(0.975, sa.df) * sa.overall_se
    assert abs(sa.overall.mean() - truth) < 0.05 * truth
    assert 0.93 <= covered.mean() <= 0.97  # measured 0.952
    cs = aggregate(group_time_effects(y, cohort), cohort, "simple").overall
    assert abs(cs.mean() - truth) < 0.05 * truth
    twfe, se, df = staggered_twfe(y, cohort)
    assert twfe.mean() < truth * 0.7  # two-way fixed effects: about 44% too small
    assert np.mean(np.abs(twfe - truth) <= stats.t.ppf(0.975, df) * se) < 0.05


@pytest.mark.slow  # about 4 s
def test_uniform_band_covers_every_event_time_at_once() -> None:
    # 300 panels of 200 units with waves drawn at random; the true effect at event time e is the
    # mean over the waves seen e periods after their start (waves equally likely), 0 before the start.
    truth = {e: 0.0 for e in range(-(T - 1), 0)}
    for e in range(T - 2):
        waves = [g for g in STARTS[:3] if g + e < T]
        truth[e] = float(np.mean([(1 + 0.5 * e) * (1.5 if g == 2 else 1.0) for g in waves]))
    band, pointwise = [], []
    for seed in range(300):
        rng = np.random.default_rng(10_000 + seed)
        cohort = rng.choice(STARTS, 200)
        y = _outcomes(rng, _effects(cohort)[1], 1)[:, :, 0]
        dyn = aggregate(group_time_effects(y, cohort), cohort, "dynamic")
        miss = np.abs(dyn.estimate[:, 0] - np.array([truth[e] for e in dyn.key])) / standard_error(dyn.influence)[:, 0]
        band.append(bool(miss.max() <= uniform_critical_value(dyn.influence[:, :, 0], seed=seed)))
        pointwise.append(bool(miss.max() <= stats.norm.ppf(0.975)))
    assert 0.92 <= np.mean(band) <= 0.99
    assert np.mean(pointwise) < np.mean(band) - 0.1  # pointwise intervals miss some event time far more often


# ------------------------------------------------------------------ from a user's table


def _generated_table(folder: Path, *, never: bool = True) -> tuple[Path, dict[str, str]]:
    rng = np.random.default_rng(3)
    months = [f"{d:%Y-%m}" for d in pd.date_range("2024-01-01", periods=T, freq="MS")]
    cohort = np.repeat(STARTS if never else STARTS[:3], 10)
    _, tau = _effects(cohort)
    y = _outcomes(rng, tau, 1)[:, :, 0]
    units = [f"region{i:02d}" for i in range(len(cohort))]
    frame = pd.DataFrame({"region": np.repeat(units, T), "month": np.tile(months, len(units)), "hours": y.ravel()})
    path = folder / "panel.csv"
    frame.to_csv(path, index=False)
    return path, {u: months[g] for u, g in zip(units, cohort, strict=True) if g != NEVER}


def _spec(table: Path, rollout: dict[str, str]) -> InitiativeSpec:
    return InitiativeSpec.model_validate({
        "id": "chatbot-waves", "name": "Chatbot, region by region", "design": "staggered", "rollout": rollout,
        "data": {"table": str(table), "unit": "region", "time": "month"},
        "metrics": [{"column": "hours", "role": "primary", "direction": "higher"}],
    })


def test_review_runs_a_staggered_rollout_from_a_users_table(tmp_path: Path) -> None:
    table, rollout = _generated_table(tmp_path)
    r = review(_spec(table, rollout))
    q = r.quasi
    assert q is not None and q.design == "staggered"
    assert q.estimate is not None and q.estimate.ci_low < q.estimate.estimate < q.estimate.ci_high
    assert q.estimate.ci_low > 0 and r.result.decision.action == "ship"
    assert "Callaway and Sant'Anna" in q.method and q.n_units == 40 and q.n_treated == 30
    assert set(q.event_study["phase"]) == {"pre", "post"}
    chart = r.time_chart().to_dict()
    assert "Event study" in chart["title"]
    text = r.design_text().data
    assert "Sun and Abraham event study agrees with the headline" in text
    assert "Two-way fixed effects (for comparison" in text
    entry = r.entry()
    assert entry["design"] == "staggered"


def test_without_never_treated_units_the_waves_not_yet_treated_compare(tmp_path: Path) -> None:
    table, rollout = _generated_table(tmp_path, never=False)
    q = review(_spec(table, rollout)).quasi
    assert q is not None and q.estimate is not None
    assert "not yet treated" in q.method
    assert "last cohort to start" in q.other_estimates["Sun and Abraham cross-check"].method


def test_conditions_of_a_rollout() -> None:
    frame = pd.DataFrame({"u": np.repeat(["a", "b", "c", "d"], 5), "t": np.tile(np.arange(1, 6), 4),
                          "y": np.arange(20, dtype=float) % 7})
    r = prepare_rollout(frame, unit="u", period="t", outcome="y", rollout={"a": 1, "b": 3, "zz": 2, "c": 9})
    codes = {c.code for c in r.conditions}
    assert {TREATED_FROM_FIRST_PERIOD, UNKNOWN_TREATED_UNITS} <= codes
    assert r.units == ("b", "c", "d")  # a left out; c starts after the data end: never treated
    assert r.cohort.tolist() == [2, NEVER, NEVER]
    same = staggered_adoption(frame, unit="u", period="t", outcome="y", rollout={u: 3 for u in "abcd"})
    assert same.estimate is None and NO_CONTROL_UNITS in {c.code for c in same.conditions}


def test_starts_of_another_kind_than_the_periods_are_refused() -> None:
    frame = pd.DataFrame({"u": np.repeat(["a", "b"], 3), "t": np.tile([2001, 2002, 2003], 2), "y": np.ones(6)})
    with pytest.raises(QuasiInputError, match=r"rollout starts .* column 't'"):
        prepare_rollout(frame, unit="u", period="t", outcome="y", rollout={"a": "2002-03-01"})


def test_a_pre_trend_blocks_the_decision(tmp_path: Path) -> None:
    table, rollout = _generated_table(tmp_path)
    frame = pd.read_csv(table)
    late = frame["region"].isin([u for u, m in rollout.items() if m == "2024-07"])
    frame.loc[late, "hours"] += 0.8 * frame.loc[late, "month"].rank(method="dense")  # a wave trending before its start
    frame.to_csv(table, index=False)
    r = review(_spec(table, rollout))
    assert PRE_TREND in {c.code for c in r.quasi.conditions}
    assert r.result.decision.action == "keep testing"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"design": "staggered"}, "design 'staggered' needs 'rollout'"),
        ({"design": "did", "rollout": {"a": "2025-03"}}, "'rollout' (a start per unit) is for design 'staggered'"),
        ({"design": "staggered", "rollout": {"a": "2025-03"}, "treated_units": ["a"]},
         "names its treated units with their starts in 'rollout'"),
        ({"design": "staggered", "rollout": {"a": "2025-03"}, "data": {"unit": "u", "time": "m"}},
         "design 'staggered' reads a unit x period panel from 'data.table'"),
    ],
)
def test_spec_messages(extra: dict, message: str) -> None:
    raw = {"id": "x", "data": {"table": "t.csv", "unit": "u", "time": "m"},
           "metrics": [{"column": "y", "role": "primary"}], **extra}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        InitiativeSpec.model_validate(raw)


def test_yaml_numbers_and_dates_in_a_rollout_are_kept_as_text() -> None:
    spec = InitiativeSpec.model_validate({
        "id": "x", "design": "staggered", "rollout": {"north": 2003, 7: dt.date(2025, 3, 1)},
        "data": {"table": "t.csv", "unit": "u", "time": "m"}, "metrics": [{"column": "y", "role": "primary"}],
    })
    assert spec.rollout == {"north": "2003", "7": "2025-03-01"}


@st.composite
def _rollouts(draw: st.DrawFn) -> tuple[pd.DataFrame, dict]:
    n_units = draw(st.sampled_from([2, 3, 10, 30]))
    n_periods = draw(st.integers(2, 15))
    months = draw(st.booleans())
    labels = ([f"{d:%Y-%m}" for d in pd.date_range("2020-01-01", periods=n_periods + 3, freq="MS")] if months
              else [str(1990 + i) for i in range(n_periods + 3)])
    starts = draw(st.lists(st.one_of(st.none(), st.integers(0, n_periods + 2)), min_size=n_units, max_size=n_units))
    if all(s is None for s in starts):
        starts[0] = draw(st.integers(0, n_periods + 2))
    noise = draw(st.sampled_from([0.0, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    units = [f"u{i}" for i in range(n_units)]
    pos = np.tile(np.arange(n_periods), n_units)
    start_pos = np.repeat([np.inf if s is None else s for s in starts], n_periods)
    y = (np.repeat(rng.normal(0, 1, n_units), n_periods) + 0.1 * pos + noise * rng.normal(0, 1, len(pos))
         + 2.0 * (pos >= start_pos))
    frame = pd.DataFrame({"unit": np.repeat(units, n_periods), "period": np.tile(labels[:n_periods], n_units), "y": y})
    rollout = {u: labels[s] for u, s in zip(units, starts, strict=True) if s is not None}
    return frame, rollout


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(_rollouts())
def test_any_rollout_never_raises_and_never_shows_a_degenerate_interval(case: tuple[pd.DataFrame, dict]) -> None:
    frame, rollout = case
    with tempfile.TemporaryDirectory() as folder:
        table = Path(folder) / "panel.csv"
        frame.to_csv(table, index=False)
        spec = InitiativeSpec.model_validate({
            "id": "prop", "design": "staggered", "rollout": rollout,
            "data": {"table": str(table), "unit": "unit", "time": "period"},
            "metrics": [{"column": "y", "role": "primary"}],
        })
        r = review(spec)
    q = r.quasi
    blocking = [c for c in q.conditions if c.blocks is not None]
    assert r.result.decision.action in ACTIONS
    if q.estimate is None:
        assert blocking
        return
    assert math.isfinite(q.estimate.estimate)
    if has_interval(q.estimate):
        assert q.estimate.ci_low <= q.estimate.estimate <= q.estimate.ci_high
    else:
        assert blocking and r.result.decision.action == "keep testing"
    shown = q.event_study["ci_low"].notna()
    assert (q.event_study.loc[shown, "ci_high"] >= q.event_study.loc[shown, "ci_low"]).all()


@pytest.mark.slow  # renders the review page: about 20 s
def test_outcomes_analyze_renders_a_staggered_rollout(tmp_path: Path) -> None:
    table, rollout = _generated_table(tmp_path)
    waves = "\n".join(f"  {unit}: {month}" for unit, month in rollout.items())
    params = tmp_path / "chatbot-waves.yaml"
    params.write_text(
        f"id: chatbot-waves\nname: Chatbot, region by region\ndesign: staggered\nrollout:\n{waves}\n"
        f"data: {{table: {table}, unit: region, time: month}}\n"
        "metrics:\n  - {column: hours, role: primary, direction: higher}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["analyze", str(params), "--out", str(out)])
    assert res.exit_code == 0, res.output
    page = (out / "chatbot-waves.html").read_text(encoding="utf-8")
    assert "Sun and Abraham event study agrees with the headline" in page and "Event study" in page
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    report_results.validate(doc)
    [entry] = doc["initiatives"]
    assert entry["design"] == "staggered" and entry["decision"] == "ship"

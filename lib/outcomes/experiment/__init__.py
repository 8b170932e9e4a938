"""Experiment statistics: randomized comparisons, result types and the one decision rule.

Public API
----------
- :mod:`.results`: :class:`MetricEffect`, :class:`InitiativeResult`, :class:`Decision`,
  :class:`Condition` and the condition codes.
- :func:`decide` / :func:`combine` (:mod:`.decision`): ship / keep testing / stop.
- :class:`InitiativeSpec` (:mod:`.spec`): ``params/initiatives/<id>.yaml``.
- :func:`analyze_table` / :func:`analyze_aggregates` (:mod:`.randomized`): a whole
  randomized initiative from a unit table or from sufficient statistics.
- :func:`explore_segments` (:mod:`.randomized.heterogeneity`): segments whose effect
  differs from the rest, Benjamini-Hochberg over the exploration.
- :func:`overlap` / :func:`program_holdout` (:mod:`.randomized.overlap`): two initiatives
  that share units (their interaction) and the program holdout's total effect.
- :func:`regression_adjusted` / :func:`post_stratified` (:mod:`.randomized.adjust`):
  variance reduction with several pre-period covariates or one pre-period category.
- :mod:`.statistics`, :mod:`.frequentist`, :mod:`.sequential`, :mod:`.multiplicity`,
  :mod:`.power`, :mod:`.srm`, :mod:`.quantile`: the building blocks.
"""

from outcomes.experiment.decision import combine, decide
from outcomes.experiment.randomized.overlap import OverlapResult, overlap, program_holdout
from outcomes.experiment.randomized.adjust import (
    Adjustment,
    CovariateSums,
    StrataSums,
    post_stratified,
    regression_adjusted,
)
from outcomes.experiment.randomized.heterogeneity import SegmentExploration, explore_segments
from outcomes.experiment.randomized.power import plan, sample_size_per_arm
from outcomes.experiment.randomized.analysis import aggregate_table, analyze_aggregates, analyze_table, read_table
from outcomes.experiment.results import Condition, Decision, InitiativeResult, MetricEffect
from outcomes.experiment.spec import InitiativeSpec, MetricSpec
from outcomes.experiment.randomized.srm import srm_test
from outcomes.experiment.statistics import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)

__all__ = [
    "Adjustment",
    "Condition",
    "CovariateSums",
    "Decision",
    "InitiativeResult",
    "InitiativeSpec",
    "MetricEffect",
    "MetricSpec",
    "OverlapResult",
    "ProportionStatistic",
    "RatioStatistic",
    "RegressionAdjustedStatistic",
    "SampleMeanStatistic",
    "SegmentExploration",
    "StrataSums",
    "aggregate_table",
    "analyze_aggregates",
    "analyze_table",
    "combine",
    "decide",
    "explore_segments",
    "overlap",
    "plan",
    "post_stratified",
    "program_holdout",
    "read_table",
    "regression_adjusted",
    "sample_size_per_arm",
    "srm_test",
]

"""An initiative's investment case with its uncertainty carried through to NPV and ROI.

Every number of the value chain and the costs is drawn from its distribution (the
effect from its sampling distribution, value inputs from their stated ranges), the
chain and the TEI cash flows are computed for all draws at once, and the case reports
P10/P50/P90 of NPV and ROI, the median payback and the probability that ROI is positive.
The same seed gives the same numbers.

Each uncertain number is drawn from a stream of its own, derived from the seed and the
number's name, so draw ``i`` of every case describes one state of the world: a number
the initiatives share (cost per ticket, a segment's lifetime value, a link between two
metrics) takes the same value in draw ``i`` of every case, while a number of one
initiative (its effect, population and costs) is drawn independently of the others.
Summing the cases draw by draw therefore gives the portfolio's distribution
(:meth:`outcomes.value.portfolio.Portfolio.total`), and adding an initiative leaves the
other cases' draws unchanged.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from outcomes import format as fmt
from outcomes.errors import ParamsError
from outcomes.value import finance, horizon, plausibility, sensitivity
from outcomes.value.evidence import EvidenceGrade, OutcomeEvidence, combine_outcome, effect_grade, link_grade, weakest
from outcomes.value.sensitivity import Tornado
from outcomes.value.words import roi_sentence
from outcomes.value.model import (
    MONEY_UNITS,
    ChainSteps,
    Effect,
    Quantity,
    ValueInputs,
    ValueModel,
    chain_quantities,
    chain_value,
    chained_outcome,
    churn_weights,
    with_inputs,
)

#: Default number of Monte Carlo draws.
DEFAULT_DRAWS = 10_000
#: Default seed: the same seed gives the same report.
DEFAULT_SEED = 42
#: Keys of a results.json ``roi`` entry.
RESULTS_KEYS = ("initiative", "npv_p50", "npv_p10", "npv_p90", "roi_p50", "payback_months", "prob_roi_positive")
#: The cost line of the running costs in every case's cash flows.
RUNNING_COSTS = "Running costs"
#: Quantities that belong to one initiative; every other quantity is shared by the initiatives that use it.
OWN_QUANTITIES = ("effect", "outcome_measured", "population", "cost:initial", "cost:recurring_monthly")


def resolve_seed(seed: int | None) -> int:
    """The seed itself, or fresh entropy when it is None (so that one call draws from one seed)."""
    if seed is None:
        return int(np.random.SeedSequence().entropy)
    if seed < 0:
        raise ParamsError(f"the Monte Carlo seed must be a non-negative integer, got {seed}")
    return int(seed)


def stream(seed: int, label: str) -> np.random.Generator:
    """The generator of one uncertain number: the same seed and label give the same draws.

    Parameters
    ----------
    seed : int
        The run's seed (non-negative).
    label : str
        What is drawn: ``<initiative>/<name>`` for a number of one initiative, the bare
        name (``cost_per_ticket``, ``link:<from>-><to>``) for a shared one.

    Returns
    -------
    numpy.random.Generator
    """
    return np.random.default_rng([seed, zlib.crc32(label.encode("utf-8"))])


def yearly_flows(
    value_per_month: np.ndarray | float,
    initial: np.ndarray | float,
    recurring_monthly: np.ndarray | float,
    ramp: tuple[float, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """Turn money per month and costs into TEI columns (initial, year 1, ...).

    Parameters
    ----------
    value_per_month : array-like
        Benefit per month at full adoption (one value per draw).
    initial : array-like
        One-off cost, in the initial column.
    recurring_monthly : array-like
        Running cost per month, from year 1 on.
    ramp : tuple of float or numpy.ndarray
        Share of the full benefit counted in each year (one per year), or one such row per
        draw, shape ``(draws, years)``.

    Returns
    -------
    benefits, costs : numpy.ndarray
        Shape ``(draws, years + 1)`` (or ``(years + 1,)`` for scalars); no benefit in the
        initial column.
    """
    arrays = (np.asarray(x, dtype=float) for x in (value_per_month, initial, recurring_monthly))
    v, c0, cm = np.broadcast_arrays(*arrays)
    ramp = np.asarray(ramp, dtype=float)
    share = np.concatenate([np.zeros(ramp.shape[:-1] + (1,)), ramp], axis=-1)
    benefits = 12.0 * v[..., None] * share
    running = np.repeat(12.0 * cm[..., None], ramp.shape[-1], axis=-1)
    costs = np.concatenate([c0[..., None], running], axis=-1)
    return benefits, costs


def _quantile(x: np.ndarray, q: float) -> float:
    return float(np.quantile(x, q))


def finite_quantile(x: np.ndarray, q: float) -> float | None:
    """Quantile ``q`` of the finite draws (ROI is infinite where a draw has no cost); None when none is."""
    finite = x[np.isfinite(x)]
    return _quantile(finite, q) if finite.size else None


def median_payback(months: np.ndarray) -> float | None:
    """Median payback in months, a draw that never pays back counting as later than any; None past the horizon."""
    filled = np.where(np.isnan(months), np.inf, months)
    return _none_if_nan(float(np.quantile(filled, 0.5, method="inverted_cdf")))


def _none_if_nan(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


@dataclass(frozen=True)
class InvestmentCase:
    """One initiative's investment case: the point case and the Monte Carlo distribution.

    Build it with :func:`simulate`.

    Attributes
    ----------
    initiative, name : str
        Initiative id and display name.
    currency : str
        Currency of every amount.
    point : finance.CashFlowCase
        The case at the central value of every input (the yearly table).
    steps : ChainSteps
        The value chain at the central values.
    chain : pandas.DataFrame
        The value chain, one row per step, with its source.
    npv, roi, payback_months, pv_benefits, pv_costs, value_per_month : numpy.ndarray
        One value per draw; payback is NaN when not within the horizon.
    net_flows : numpy.ndarray
        Risk-adjusted benefits minus costs, shape ``(draws, years + 1)`` (initial, year 1, ...).
    seed : int
        Seed of the draws.
    sources : dict of str to str
        Where the effect and each link come from (experiment, drivers, assumption).
    grade : {"measured", "chained", "associational", "assumed"}
        What the case's value rests on (:mod:`outcomes.value.evidence`).
    grades : dict of str to str
        The grade of the effect, of each link and, when the initiative's own test measured
        the outcome, of that measurement (``outcome``).
    outcome : OutcomeEvidence or None
        How the chain's estimate of the outcome and its direct measurement were put together.
    pv_beyond_horizon : numpy.ndarray or None
        Per draw, the present value (risk-adjusted) of customers kept beyond the horizon, not
        counted in the NPV; None when the value does not run through customers kept.
    bounds : tuple of plausibility.Bound
        The yearly benefit against each pool it acts on.
    measured_share : float or None
        Share of the population where the effect was measured.
    extrapolated : bool
        Whether the case applies the effect to the whole population (a scenario beyond
        the units where it was measured).
    sensitivity : Tornado or None
        NPV with each uncertain input at its P10 and P90, the others central, largest swing first.
    """

    initiative: str
    name: str
    currency: str
    point: finance.CashFlowCase
    steps: ChainSteps
    chain: pd.DataFrame
    npv: np.ndarray
    roi: np.ndarray
    payback_months: np.ndarray
    pv_benefits: np.ndarray
    pv_costs: np.ndarray
    value_per_month: np.ndarray
    net_flows: np.ndarray
    seed: int
    sources: dict[str, str] = field(default_factory=dict)
    grade: EvidenceGrade = "assumed"
    grades: dict[str, str] = field(default_factory=dict)
    outcome: OutcomeEvidence | None = None
    pv_beyond_horizon: np.ndarray | None = None
    bounds: tuple[plausibility.Bound, ...] = ()
    measured_share: float | None = None
    extrapolated: bool = False
    sensitivity: Tornado | None = None

    @property
    def n_draws(self) -> int:
        """Number of Monte Carlo draws."""
        return int(self.npv.size)

    @property
    def prob_roi_positive(self) -> float:
        """Share of draws with a positive NPV (ROI > 0 whenever there are costs)."""
        return float(np.mean(self.npv > 0))

    @property
    def break_even_monthly_cost(self) -> float:
        """The running cost per month at which the case at its central values breaks even (0 or less: never)."""
        running_risk = self.point.cost_risk.get(RUNNING_COSTS, 0.0)
        return finance.break_even_monthly_cost(
            self.point.pv_benefits, float(self.point.total_costs[0]), self.point.years, self.point.rate, running_risk
        )

    @property
    def payback_p50(self) -> float | None:
        """Median payback in months; None when more than half the draws do not pay back in the horizon."""
        return median_payback(self.payback_months)

    def to_dict(self) -> dict[str, Any]:
        """The results.json ``roi`` entry (exactly the keys of its schema).

        Returns
        -------
        dict
            ``initiative, npv_p50, npv_p10, npv_p90, roi_p50, payback_months,
            prob_roi_positive``; payback is None when the median draw does not pay back
            within the horizon.
        """
        d = self.details()
        return {k: d[k] for k in RESULTS_KEYS}

    def details(self) -> dict[str, Any]:
        """Every summary figure: the results.json entry plus the rest.

        Returns
        -------
        dict
            :meth:`to_dict` plus ``name, currency, roi_p10, roi_p90, investment`` (PV of
            costs at the central values), ``pv_benefits_p50, pv_costs_p50,
            value_per_month_p50, prob_payback_within_horizon, horizon_years,
            discount_rate, n_draws, seed`` and the chain's ``sources``. Missing values are None.
        """
        roi_q = [finite_quantile(self.roi, q) for q in (0.1, 0.5, 0.9)]
        return {
            "initiative": self.initiative,
            "npv_p50": _quantile(self.npv, 0.5),
            "npv_p10": _quantile(self.npv, 0.1),
            "npv_p90": _quantile(self.npv, 0.9),
            "roi_p50": roi_q[1],
            "payback_months": self.payback_p50,
            "prob_roi_positive": self.prob_roi_positive,
            "name": self.name,
            "currency": self.currency,
            "roi_p10": roi_q[0],
            "roi_p90": roi_q[2],
            "investment": self.point.pv_costs,
            "pv_benefits_p50": _quantile(self.pv_benefits, 0.5),
            "pv_costs_p50": _quantile(self.pv_costs, 0.5),
            "value_per_month_p50": _quantile(self.value_per_month, 0.5),
            "prob_payback_within_horizon": float(np.mean(np.isfinite(self.payback_months))),
            "horizon_years": self.point.years,
            "discount_rate": self.point.rate,
            "n_draws": self.n_draws,
            "seed": self.seed,
            "sources": dict(self.sources),
            "evidence": self.grade,
            "evidence_by_step": dict(self.grades),
            "pv_beyond_horizon_p50": (
                None if self.pv_beyond_horizon is None else _quantile(self.pv_beyond_horizon, 0.5)
            ),
            "plausibility": [b.to_dict() for b in self.bounds],
        }

    def to_frame(self) -> pd.DataFrame:
        """The yearly TEI table at the central values (initial, year 1..n, total, PV)."""
        return self.point.to_frame()

    def summary(self) -> pd.DataFrame:
        """The case in executive wording: one row per measure.

        Returns
        -------
        pandas.DataFrame
            Columns ``measure`` and ``value`` (formatted text).
        """
        d = self.details()
        cur = self.currency
        # the value per month is stated once, in the value chain at the central inputs, beside this table
        rows = [
            ("Investment (PV of costs)", fmt.money(d["investment"], cur)),
            ("NPV P50", fmt.money(d["npv_p50"], cur)),
            ("NPV P10 to P90", fmt.money_range(d["npv_p10"], d["npv_p90"], cur)),
            ("ROI P50", fmt.percent(d["roi_p50"])),
            ("Payback (P50)", fmt.months(d["payback_months"])),
            ("Chance ROI is positive", fmt.probability(d["prob_roi_positive"])),
        ]
        if d["pv_beyond_horizon_p50"] is not None:
            rows.append(("Value beyond the horizon (PV, not in the NPV)", fmt.money(d["pv_beyond_horizon_p50"], cur)))
        rows.append(("In words", roi_sentence(d)))
        return pd.DataFrame(rows, columns=["measure", "value"])


def _chain_frame(
    model: ValueModel, key: str, steps: ChainSteps, central: Mapping[str, float], sources: Mapping[str, str]
) -> pd.DataFrame:
    ini = model.initiative(key)
    previous = [ini.metric, *[link.to for link in ini.links]]
    units = MONEY_UNITS[ini.money]
    rows = [("IT metric change", ini.metric, float(steps.it_change), sources["effect"])]
    for prev, link in zip(previous, ini.links, strict=False):
        name = f"link:{link.to}"
        rows.append((f"Change in {link.to} per +1 {prev}", link.to, float(central[name]), sources[name]))
    segments = ", ".join(ini.population.segments or ())
    count = ini.population.count
    population_source = count.origin if count is not None else f"customers in {segments}"
    rows += [
        ("Outcome change", ini.outcome, float(steps.outcome_change), "computed"),
        ("Population per month", ini.population.description, float(steps.population), population_source),
        (f"{units.capitalize()} per month", units, float(steps.units_per_month), "computed"),
        ("Value per unit", ini.money, float(steps.unit_value), "value model"),
        ("Value per month", model.currency, float(steps.value_per_month), "computed"),
    ]
    return pd.DataFrame(rows, columns=["step", "what", "value", "source"])


def _stream_labels(key: str, metric: str, link_targets: list[str]) -> dict[str, str]:
    """Stream labels of the quantities that are not drawn under their bare name."""
    labels = {name: f"{key}/{name}" for name in OWN_QUANTITIES}
    previous = [metric, *link_targets]
    labels.update({f"link:{to}": f"link:{frm}->{to}" for frm, to in zip(previous, link_targets, strict=False)})
    labels.update(
        {f"causal_share:{to}": f"causal_share:{frm}->{to}" for frm, to in zip(previous, link_targets, strict=False)}
    )
    return labels


def simulate(
    model: ValueModel,
    key: str,
    *,
    effect: Effect | None = None,
    link_slopes: Mapping[str, Quantity] | None = None,
    inputs: ValueInputs | None = None,
    n: int = DEFAULT_DRAWS,
    seed: int | None = DEFAULT_SEED,
    outcome_measured: Effect | None = None,
    extrapolate: bool | None = None,
) -> InvestmentCase:
    """Build one initiative's investment case by Monte Carlo.

    Parameters
    ----------
    model : ValueModel
        The value model (``params/value.yaml``).
    key : str
        Initiative id.
    effect : Effect, optional
        The measured change in the IT metric (e.g. ``Effect(value=est, se=se,
        source="experiment")`` or :meth:`Effect.from_ci`); the stated effect otherwise.
    link_slopes : mapping of str to Quantity, optional
        Link slopes by the link's ``to`` metric (e.g. from the drivers model), replacing
        the stated ones.
    inputs : ValueInputs, optional
        Figures computed from the warehouse.
    n : int
        Number of draws.
    seed : int or None
        Seed of the draws (each number draws from :func:`stream` of this seed); None draws
        fresh entropy.
    outcome_measured : Effect, optional
        The initiative's own measurement of the outcome its chain ends in (e.g. churn
        measured by its review); put together with the chain's estimate by
        :func:`outcomes.value.evidence.combine_outcome`.
    extrapolate : bool, optional
        Apply the effect to the whole population rather than the share where it was
        measured; default the initiative's ``extrapolate``.

    Returns
    -------
    InvestmentCase
    """
    if n < 2:
        raise ParamsError(f"the Monte Carlo needs at least 2 draws, got n={n}")
    model = with_inputs(model, inputs)
    if extrapolate is not None:
        changed = model.initiative(key).model_copy(update={"extrapolate": extrapolate})
        model = model.model_copy(update={"initiatives": {**model.initiatives, key: changed}})
    ini = model.initiative(key)
    link_targets = [link.to for link in ini.links]
    unknown = sorted(set(link_slopes or {}) - set(link_targets))
    if unknown:
        raise ParamsError(
            f"link_slopes for {unknown} do not match initiative '{key}'; "
            f"its links go to: {', '.join(link_targets) or '(none)'}"
        )
    quantities = chain_quantities(model, key)
    if effect is not None:
        quantities["effect"] = effect
    for to, slope in (link_slopes or {}).items():
        quantities[f"link:{to}"] = slope
    sources = {"effect": getattr(quantities["effect"], "source", "assumption")}
    passed = set(link_slopes or {})
    sources.update({f"link:{lk.to}": "drivers" if lk.to in passed else lk.source for lk in ini.links})
    for lk in ini.links:
        if sources[f"link:{lk.to}"] == "drivers":
            quantities[f"causal_share:{lk.to}"] = lk.causal_share.quantity()
    if outcome_measured is not None and ini.links:
        quantities["outcome_measured"] = outcome_measured

    seed = resolve_seed(seed)
    labels = _stream_labels(key, ini.metric, link_targets)
    draws = {name: q.sample(stream(seed, labels.get(name, name)), n) for name, q in quantities.items()}
    central = {name: q.value for name, q in quantities.items()}
    direct = quantities.get("outcome_measured")
    draws["outcome"], outcome = combine_outcome(
        chained_outcome(model, key, draws), draws.get("outcome_measured"),
        None if direct is None else direct.value, None if direct is None else direct.sd,
    )
    central["outcome"] = _outcome_at(model, key, central, outcome.weight_direct)
    grades = {"effect": effect_grade(sources["effect"])}
    grades.update({f"link:{lk.to}": link_grade(sources[f"link:{lk.to}"]) for lk in ini.links})
    if direct is not None:
        grades["outcome"] = "measured"
    grade = "measured" if outcome.how == "direct" else weakest(
        [g for name, g in grades.items() if name != "outcome"]
    )
    ramp = np.asarray(ini.ramp or (1.0,) * model.horizon_years, dtype=float)

    steps_draws, benefits, costs = _cash_flows(model, key, draws, ramp)
    steps, b0, c0 = _cash_flows(model, key, central, ramp)
    b_adj = finance.risk_adjust_benefits(benefits, ini.risk.benefits)
    c_adj = finance.risk_adjust_costs(costs, ini.risk.costs)
    pv_b = finance.present_value(b_adj, model.discount_rate)
    pv_c = finance.present_value(c_adj, model.discount_rate)
    npv = pv_b - pv_c
    beyond = None
    if ini.money == "churn_avoided":
        full, _ = yearly_flows(steps_draws.value_per_month, 0.0, 0.0, ramp)
        beyond = finance.present_value(finance.risk_adjust_benefits(full - benefits, ini.risk.benefits),
                                       model.discount_rate)
    bounds = plausibility.check(_quantile(benefits.max(axis=-1), 0.5), _pools(model, key, steps))

    initial_only, running_only = np.zeros_like(c0), c0.copy()
    initial_only[0], running_only[0] = c0[0], 0.0
    point = finance.tei(
        {f"Value of {MONEY_UNITS[ini.money]}": b0},
        {"Initial investment": initial_only, RUNNING_COSTS: running_only},
        rate=model.discount_rate,
        benefit_risk=ini.risk.benefits,
        cost_risk=ini.risk.costs,
    )

    def npv_at(values: Mapping[str, float]) -> float:
        values = {**values, "outcome": _outcome_at(model, key, values, outcome.weight_direct)}
        _, b, c = _cash_flows(model, key, values, ramp)
        return float(
            finance.present_value(finance.risk_adjust_benefits(b, ini.risk.benefits), model.discount_rate)
            - finance.present_value(finance.risk_adjust_costs(c, ini.risk.costs), model.discount_rate)
        )

    inputs_central = {name: value for name, value in central.items() if name != "outcome"}
    tornado = sensitivity.tornado(
        npv_at,
        inputs_central,
        sensitivity.quantile_ranges({name: draws[name] for name in inputs_central}),
        labels={name: sensitivity.input_words(name, ini.metric, ini.outcome) for name in inputs_central},
        currency=model.currency,
    )
    return InvestmentCase(
        initiative=key,
        name=ini.name,
        currency=model.currency,
        point=point,
        steps=steps,
        chain=_chain_frame(model, key, steps, central, sources),
        npv=npv,
        roi=finance.roi(npv, pv_c),
        payback_months=finance.payback_months(b_adj - c_adj),
        pv_benefits=pv_b,
        pv_costs=pv_c,
        value_per_month=steps_draws.value_per_month,
        net_flows=b_adj - c_adj,
        seed=seed,
        sources=sources,
        grade=grade,
        grades=grades,
        outcome=outcome if direct is not None else None,
        pv_beyond_horizon=beyond,
        bounds=bounds,
        measured_share=ini.population.measured_share,
        extrapolated=ini.extrapolate and ini.population.measured_share is not None,
        sensitivity=tornado,
    )


def _outcome_at(model: ValueModel, key: str, values: Mapping[str, Any], weight_direct: float) -> Any:
    """The outcome change the value uses: the chain's, moved toward the direct measurement by its weight."""
    chained = chained_outcome(model, key, values)
    if "outcome_measured" not in values:
        return chained
    return chained + weight_direct * (np.asarray(values["outcome_measured"], dtype=float) - chained)


def _cash_flows(
    model: ValueModel, key: str, values: Mapping[str, Any], ramp: np.ndarray
) -> tuple[ChainSteps, np.ndarray, np.ndarray]:
    """The chain and the yearly benefits and costs (before risk) for given numbers (draws or one value each).

    Customers kept count inside the horizon only (:func:`outcomes.value.horizon.yearly_share`).
    """
    ini = model.initiative(key)
    steps = chain_value(model, key, values)
    inside = ramp
    if ini.money == "churn_avoided":
        segments = ini.population.segments or ()
        weights, churn = churn_weights(model, key), np.array([model.segments[s].churn_rate for s in segments])
        clvs = np.stack([np.asarray(values[f"clv:{s}"], dtype=float) for s in segments])
        inside = ramp * horizon.yearly_share(weights, clvs, churn, model.horizon_years)
    benefits, costs = yearly_flows(steps.value_per_month, values["cost:initial"], values["cost:recurring_monthly"], inside)
    return steps, benefits, costs


def _pools(model: ValueModel, key: str, steps: ChainSteps) -> dict[str, float]:
    """The yearly pools an initiative's benefit acts on (:mod:`outcomes.value.plausibility`).

    A desk initiative (``cost_base: service_desk``, or any that prevents tickets) acts on the
    service desk's yearly cost, when known; one that keeps customers acts on the value churn
    puts at risk in a year: the population's churners a year times the value of a customer kept.
    """
    ini = model.initiative(key)
    pools: dict[str, float] = {}
    desk = model.inputs.service_desk_yearly_cost
    if desk is not None and (ini.cost_base == "service_desk" or ini.money == "tickets_prevented"):
        pools["service_desk_cost"] = desk.value
    if ini.money == "churn_avoided":
        segments = ini.population.segments or ()
        sizes = np.array([model.segments[s].customers for s in segments])
        churn = float(np.dot(sizes, [model.segments[s].churn_rate for s in segments]) / sizes.sum())
        pools["revenue_at_risk"] = 12.0 * float(steps.population) * churn * float(steps.unit_value)
    return pools

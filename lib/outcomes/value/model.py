"""The value model: from a change in an IT metric to money per month.

``params/value.yaml`` states the money side of the business (cost per ticket, hourly
rates, revenue per outage minute, customer lifetime value per segment...) and, per
initiative, one value chain::

    IT metric change  ->  customer outcome change  ->  units per month  ->  money per month
    (effect)              (links: experiment,          (x population)       (x unit value)
                           drivers model or
                           assumption)

Every number is a :class:`Quantity`: a central value and, where it is uncertain, a
distribution (normal from a standard error or an interval; triangular or uniform from a
stated range), so the Monte Carlo step can carry the uncertainty through to NPV.

Figures computed from the warehouse (cost per ticket, CLV and customers per segment)
are passed in as plain numbers through :class:`ValueInputs`; :func:`with_inputs`
puts them in place of the stated fallbacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator
from scipy import stats

from outcomes import config
from outcomes.errors import ParamsError
from outcomes.experiment.program import ProgramHoldout
from outcomes.params import Params, load

Distribution = Literal["fixed", "normal", "triangular", "uniform"]
Source = Literal["experiment", "drivers", "assumption"]
Origin = Literal["stated", "warehouse", "experiment", "drivers"]
Money = Literal["churn_avoided", "tickets_prevented", "hours_saved", "outage_avoided", "conversions_gained"]

#: Sign that turns an outcome change into units gained: a fall in churn, tickets, hours
#: and outage minutes is a gain; a rise in conversions is.
MONEY_SIGN: dict[str, float] = {
    "churn_avoided": -1.0,
    "tickets_prevented": -1.0,
    "hours_saved": -1.0,
    "outage_avoided": -1.0,
    "conversions_gained": 1.0,
}

#: What one unit of each money conversion is, for tables and sentences.
MONEY_UNITS: dict[str, str] = {
    "churn_avoided": "customers kept",
    "tickets_prevented": "tickets prevented",
    "hours_saved": "hours saved",
    "outage_avoided": "outage minutes avoided",
    "conversions_gained": "conversions gained",
}



class Quantity(Params):
    """A number with its uncertainty.

    Written in YAML as a bare number (fixed) or a mapping::

        cost_per_ticket: {value: 22, low: 15, high: 30}          # triangular
        effect: {value: -1.5, se: 0.4}                            # normal
        slope: {value: 0.004, low: 0.001, high: 0.007, distribution: normal, level: 0.95}

    Attributes
    ----------
    value : float
        Central value, used for the point case.
    se : float, optional
        Standard error (normal distribution).
    low, high : float, optional
        A stated range (triangular or uniform), or interval bounds at ``level`` (normal).
    level : float
        Confidence level of ``low``/``high`` when the distribution is normal.
    distribution : {"fixed", "normal", "triangular", "uniform"}, optional
        Inferred when omitted: normal with ``se``, triangular with a range, else fixed.
    origin : {"stated", "warehouse", "experiment", "drivers"}
        Where the number comes from; set by the kit when it replaces a stated number.
    """

    value: float
    se: float | None = Field(default=None, ge=0)
    low: float | None = None
    high: float | None = None
    level: float = Field(default=0.95, gt=0, lt=1)
    distribution: Distribution | None = None
    origin: Origin = "stated"

    @model_validator(mode="before")
    @classmethod
    def _from_number(cls, data: Any) -> Any:
        if isinstance(data, int | float) and not isinstance(data, bool):
            return {"value": data}
        return data

    @model_validator(mode="after")
    def _check(self) -> Quantity:
        has_range = self.low is not None or self.high is not None
        if has_range and (self.low is None or self.high is None):
            raise ValueError("a range needs both low and high")
        if has_range and not self.low <= self.high:  # type: ignore[operator]
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        dist = self.kind
        if dist == "normal" and self.se is None and not has_range:
            raise ValueError("a normal quantity needs se, or low and high (interval bounds at `level`)")
        if dist in ("triangular", "uniform"):
            if not has_range:
                raise ValueError(f"a {dist} quantity needs low and high")
            if not self.low <= self.value <= self.high:  # type: ignore[operator]
                raise ValueError(f"value {self.value} must lie within low {self.low} and high {self.high}")
        if dist == "fixed" and (self.se is not None or has_range):
            raise ValueError("a fixed quantity takes no se, low or high; drop them or name a distribution")
        return self

    @property
    def kind(self) -> Distribution:
        """The distribution, explicit or inferred."""
        if self.distribution is not None:
            return self.distribution
        if self.se is not None:
            return "normal"
        if self.low is not None:
            return "triangular"
        return "fixed"

    @property
    def sd(self) -> float:
        """Standard deviation of a normal quantity (from ``se`` or from the interval)."""
        if self.se is not None:
            return self.se
        if self.low is None or self.high is None:
            return 0.0
        return (self.high - self.low) / (2.0 * stats.norm.ppf(0.5 + self.level / 2.0))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` values.

        Parameters
        ----------
        rng : numpy.random.Generator
            The seeded generator.
        n : int
            Number of draws.

        Returns
        -------
        numpy.ndarray
            Shape ``(n,)``.
        """
        kind = self.kind
        if kind == "normal":
            return rng.normal(self.value, self.sd, n)
        if kind == "fixed" or self.low == self.high:
            return np.full(n, self.value)
        if kind == "triangular":
            return rng.triangular(self.low, self.value, self.high, n)
        return rng.uniform(self.low, self.high, n)

    def rescaled(self, value: float, origin: Origin) -> Quantity:
        """Return this quantity moved to a new central ``value``, keeping its relative spread.

        Parameters
        ----------
        value : float
            The new central value (e.g. computed from the warehouse).
        origin : str
            Where it comes from.

        Returns
        -------
        Quantity
            ``low``, ``high`` and ``se`` scaled by ``value / self.value``; fixed when the
            stated value is 0.
        """
        if self.value == 0:
            return Quantity(value=value, origin=origin)
        f = value / self.value
        lo, hi = (None, None) if self.low is None else sorted((self.low * f, self.high * f))  # type: ignore[operator]
        se = None if self.se is None else abs(self.se * f)
        return self.model_copy(update={"value": value, "low": lo, "high": hi, "se": se, "origin": origin})


class Segment(Params):
    """A customer segment: its size and the simple CLV inputs.

    CLV (simple, discounted) = ARPU x gross margin / (churn rate + monthly discount rate),
    with ARPU and churn monthly and the discount rate derived from the value model's
    yearly rate. A stated ``clv`` replaces the formula; ``clv_spread`` sets a triangular
    range of +/- that fraction around the formula's value. ``churn_rate`` also weights the
    segment when a change in the average churn rate is spread over segments: the customers
    kept are distributed like the churners, not like the customer base.
    """

    customers: float = Field(ge=0)
    arpu_monthly: float = Field(ge=0)
    gross_margin: float = Field(ge=0, le=1)
    churn_rate: float = Field(gt=0, le=1)
    clv: Quantity | None = None
    clv_spread: float = Field(default=0.25, ge=0, lt=1)
    monthly_discount: float = Field(default=0.0, ge=0, lt=1)

    def clv_quantity(self) -> Quantity:
        """The segment's CLV with its range."""
        if self.clv is not None:
            return self.clv
        v = simple_clv(self.arpu_monthly, self.gross_margin, self.churn_rate, self.monthly_discount)
        if self.clv_spread == 0:
            return Quantity(value=v)
        return Quantity(value=v, low=v * (1 - self.clv_spread), high=v * (1 + self.clv_spread))


class Inputs(Params):
    """Money per unit on the cost and revenue side (stated fallbacks with ranges)."""

    cost_per_ticket: Quantity
    agent_hourly_rate: Quantity
    employee_hourly_rate: Quantity
    outage_revenue_per_minute: Quantity
    revenue_per_conversion: Quantity
    conversion_margin: Quantity
    service_desk_yearly_cost: Quantity | None = None


class ShareRange(Params):
    """A share between 0 and 1 known only as a range (drawn uniformly between ``low`` and ``high``)."""

    low: float = Field(ge=0, le=1)
    high: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> ShareRange:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self

    def quantity(self) -> Quantity:
        """The share as a uniform :class:`Quantity` (fixed when ``low == high``)."""
        if self.low == self.high:
            return Quantity(value=self.low)
        return Quantity(value=(self.low + self.high) / 2.0, low=self.low, high=self.high, distribution="uniform")


#: Share of an association taken as cause when a link does not state one: anything from none of
#: it to all of it, half on average. An association across regions and months also carries
#: whatever else differs between them (staffing, customer mix, seasons), and nothing in it says
#: how much: the range states that ignorance instead of guessing a smaller number, so the
#: value's interval is wide and its centre half of what the association alone would claim.
DEFAULT_CAUSAL_SHARE = ShareRange(low=0.0, high=1.0)


class Link(Params):
    """One step of a value chain: the change in ``to`` per +1 unit of the previous metric.

    ``causal_share`` applies when the slope is an association (the drivers model): the
    slope is multiplied by a share drawn uniformly from the range, on top of the slope's
    own sampling uncertainty (default :data:`DEFAULT_CAUSAL_SHARE`).
    """

    to: str
    per_unit: Quantity
    source: Source
    note: str | None = None
    causal_share: ShareRange = DEFAULT_CAUSAL_SHARE


class Effect(Quantity):
    """The change in the initiative's IT metric, with where it comes from."""

    source: Source = "assumption"

    @classmethod
    def from_ci(
        cls, estimate: float, low: float, high: float, level: float = 0.95, source: Source = "experiment"
    ) -> Effect:
        """Build a normal effect from an estimate and its confidence interval.

        Parameters
        ----------
        estimate : float
            Point estimate.
        low, high : float
            Interval bounds.
        level : float
            Confidence level of the interval.
        source : str
            experiment, drivers or assumption.

        Returns
        -------
        Effect
        """
        origin: Origin = "stated" if source == "assumption" else source
        return cls(value=estimate, low=low, high=high, level=level, distribution="normal", source=source, origin=origin)


class Population(Params):
    """Who or what the chain applies to, per month: customer segments or a stated count.

    ``measured_share`` is the share of the population where the effect was measured (e.g.
    the customers of the two regions of a rollout); the base case counts only them, unless
    the initiative says ``extrapolate: true``.
    """

    description: str
    segments: tuple[str, ...] | None = None
    count: Quantity | None = None
    measured_share: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _one_of(self) -> Population:
        if (self.segments is None) == (self.count is None):
            raise ValueError("give exactly one of `segments` (customers in those segments) or `count`")
        return self


class Costs(Params):
    """Costs of an initiative: one-off (the "Initial" column) and running per month."""

    initial: Quantity
    recurring_monthly: Quantity


class Risk(Params):
    """TEI risk adjustment: benefits cut by ``benefits``, costs raised by ``costs``."""

    benefits: float = Field(default=0.0, ge=0, lt=1)
    costs: float = Field(default=0.0, ge=0)


class Initiative(Params):
    """One initiative's value chain and investment."""

    name: str
    metric: str
    effect: Effect
    links: tuple[Link, ...] = ()
    money: Money
    rate: Literal["agent", "employee"] | None = None
    population: Population
    ramp: tuple[float, ...] | None = None
    costs: Costs
    risk: Risk = Risk()
    extrapolate: bool = False
    cost_base: Literal["service_desk"] | None = None

    @model_validator(mode="after")
    def _check(self) -> Initiative:
        if self.money == "hours_saved" and self.rate is None:
            raise ValueError("money: hours_saved needs rate: agent or employee")
        if self.money != "hours_saved" and self.rate is not None:
            raise ValueError(f"rate applies to money: hours_saved only, not {self.money}")
        if self.money == "churn_avoided" and self.population.segments is None:
            raise ValueError("money: churn_avoided needs population.segments (CLV is per segment)")
        if self.ramp is not None and any(not 0 <= r <= 1 for r in self.ramp):
            raise ValueError(f"ramp values are shares of the full benefit, between 0 and 1; got {list(self.ramp)}")
        return self

    @property
    def outcome(self) -> str:
        """The metric the money conversion applies to (the last link's, or the IT metric)."""
        return self.links[-1].to if self.links else self.metric


class ValueModel(Params):
    """``params/value.yaml``: money inputs, segments and one value chain per initiative."""

    currency: str = "EUR"
    horizon_years: int = Field(default=3, ge=1, le=10)
    discount_rate: float = Field(default=0.10, gt=-1, lt=1)
    inputs: Inputs
    segments: dict[str, Segment]
    initiatives: dict[str, Initiative]
    #: Customers kept out of every initiative; the ROI page compares them with the rest.
    program_holdout: ProgramHoldout | None = None

    @model_validator(mode="after")
    def _check(self) -> ValueModel:
        for key, ini in self.initiatives.items():
            unknown = sorted(set(ini.population.segments or ()) - set(self.segments))
            if unknown:
                raise ValueError(
                    f"initiative '{key}': unknown segment(s) {unknown}; segments are: {', '.join(self.segments)}"
                )
            if ini.ramp is not None and len(ini.ramp) != self.horizon_years:
                raise ValueError(
                    f"initiative '{key}': ramp has {len(ini.ramp)} values, horizon_years is {self.horizon_years}"
                )
        return self

    def initiative(self, key: str) -> Initiative:
        """Return the initiative called ``key``, or raise naming the valid ones."""
        if key not in self.initiatives:
            raise ParamsError(
                f"initiative '{key}' is not in the value model; initiatives are: {', '.join(self.initiatives)}"
            )
        return self.initiatives[key]


def load_value_model(path: str | Path | None = None) -> ValueModel:
    """Read and validate ``params/value.yaml``.

    Parameters
    ----------
    path : str or Path, optional
        The YAML file, relative paths from the project folder; default the project's
        ``params/value.yaml``.

    Returns
    -------
    ValueModel
    """
    return load(config.resolve(path) if path is not None else config.project().params_dir / "value.yaml", ValueModel)


def simple_clv(arpu_monthly: float, gross_margin: float, churn_rate: float, monthly_discount: float = 0.0) -> float:
    """Simple customer lifetime value: ARPU x gross margin / (churn rate + discount rate).

    With ``monthly_discount`` 0 this is the undiscounted formula ARPU x margin / churn; a
    positive monthly discount rate values later months less (the present value of a
    margin stream that survives each month with probability ``1 - churn``), which keeps
    the CLV of rarely churning segments from dominating a value case.

    Parameters
    ----------
    arpu_monthly : float
        Average revenue per customer per month.
    gross_margin : float
        Gross margin as a fraction of revenue.
    churn_rate : float
        Monthly churn rate (fraction); the expected lifetime is ``1 / churn_rate`` months.
    monthly_discount : float
        Monthly discount rate (fraction), e.g. ``1.10 ** (1 / 12) - 1`` for 10% a year.

    Returns
    -------
    float
        The margin a customer brings over their expected lifetime.
    """
    if churn_rate <= 0:
        raise ParamsError(f"churn_rate must be above 0 to compute a lifetime value, got {churn_rate}")
    if monthly_discount < 0:
        raise ParamsError(f"monthly_discount must not be negative, got {monthly_discount}")
    return arpu_monthly * gross_margin / (churn_rate + monthly_discount)


def monthly_rate(yearly_rate: float) -> float:
    """The monthly rate equivalent to a yearly discount rate: ``(1 + r) ** (1 / 12) - 1``."""
    return (1.0 + yearly_rate) ** (1.0 / 12.0) - 1.0


@dataclass(frozen=True)
class ValueInputs:
    """Figures computed from the warehouse that replace the stated fallbacks.

    Attributes
    ----------
    cost_per_ticket : float, optional
        Service-desk cost / ticket volume.
    clv_by_segment : mapping of str to float, optional
        CLV per segment (e.g. ARPU x margin / churn from the orders data).
    customers_by_segment : mapping of str to float, optional
        Active customers per segment.
    churn_by_segment : mapping of str to float, optional
        Monthly churn rate per segment; weights segments by their churners when a change
        in the average churn rate is valued.
    population_by_initiative : mapping of str to float, optional
        Events per month (e.g. deployments) by initiative id, replacing a stated
        ``population.count``.
    initial_cost_by_initiative, recurring_monthly_cost_by_initiative : mapping of str to float, optional
        One-off and running costs per month by initiative id (e.g. from the portfolio
        office's register), replacing the stated costs.
    measured_share_by_initiative : mapping of str to float, optional
        Share of the population where each initiative's effect was measured, by id.
    service_desk_yearly_cost : float, optional
        What the service desk costs a year (the pool a desk initiative's benefit is checked against).
    """

    cost_per_ticket: float | None = None
    clv_by_segment: Mapping[str, float] | None = None
    customers_by_segment: Mapping[str, float] | None = None
    churn_by_segment: Mapping[str, float] | None = None
    population_by_initiative: Mapping[str, float] | None = None
    initial_cost_by_initiative: Mapping[str, float] | None = None
    recurring_monthly_cost_by_initiative: Mapping[str, float] | None = None
    measured_share_by_initiative: Mapping[str, float] | None = None
    service_desk_yearly_cost: float | None = None


def with_inputs(model: ValueModel, inputs: ValueInputs | None) -> ValueModel:
    """Return the model with warehouse figures in place of the stated ones.

    Warehouse numbers keep the stated relative range (the range expresses doubt about
    the future, not about the data) and are marked ``origin="warehouse"``.

    Parameters
    ----------
    model : ValueModel
        The stated model.
    inputs : ValueInputs or None
        Figures computed from the warehouse; None leaves the model as stated.

    Returns
    -------
    ValueModel
    """
    if inputs is None:
        return model
    new_inputs = model.inputs
    if inputs.cost_per_ticket is not None:
        new_inputs = new_inputs.model_copy(
            update={"cost_per_ticket": new_inputs.cost_per_ticket.rescaled(inputs.cost_per_ticket, "warehouse")}
        )
    if inputs.service_desk_yearly_cost is not None:
        desk = Quantity(value=float(inputs.service_desk_yearly_cost), origin="warehouse")
        new_inputs = new_inputs.model_copy(update={"service_desk_yearly_cost": desk})
    segments = dict(model.segments)
    given_by_label = {
        "clv_by_segment": inputs.clv_by_segment,
        "customers_by_segment": inputs.customers_by_segment,
        "churn_by_segment": inputs.churn_by_segment,
    }
    for label, given in given_by_label.items():
        unknown = sorted(set(given or {}) - set(segments))
        if unknown:
            raise ParamsError(
                f"ValueInputs.{label} names unknown segment(s) {unknown}; "
                f"segments in value.yaml are: {', '.join(segments)}"
            )
    for name, seg in model.segments.items():
        update: dict[str, Any] = {}
        if inputs.clv_by_segment and name in inputs.clv_by_segment:
            update["clv"] = seg.clv_quantity().rescaled(float(inputs.clv_by_segment[name]), "warehouse")
        if inputs.customers_by_segment and name in inputs.customers_by_segment:
            update["customers"] = float(inputs.customers_by_segment[name])
        if inputs.churn_by_segment and name in inputs.churn_by_segment and inputs.churn_by_segment[name] > 0:
            update["churn_rate"] = float(inputs.churn_by_segment[name])
        segments[name] = seg.model_copy(update=update)
    return model.model_copy(
        update={"inputs": new_inputs, "segments": segments, "initiatives": _initiatives_with_inputs(model, inputs)}
    )


def _initiatives_with_inputs(model: ValueModel, inputs: ValueInputs) -> dict[str, Initiative]:
    """The initiatives with warehouse populations and costs in place of the stated ones."""
    given_by_label = {
        "population_by_initiative": inputs.population_by_initiative,
        "initial_cost_by_initiative": inputs.initial_cost_by_initiative,
        "recurring_monthly_cost_by_initiative": inputs.recurring_monthly_cost_by_initiative,
        "measured_share_by_initiative": inputs.measured_share_by_initiative,
    }
    for label, given in given_by_label.items():
        unknown = sorted(set(given or {}) - set(model.initiatives))
        if unknown:
            raise ParamsError(
                f"ValueInputs.{label} names unknown initiative(s) {unknown}; "
                f"initiatives in value.yaml are: {', '.join(model.initiatives)}"
            )
    counted = sorted(k for k in inputs.population_by_initiative or {} if model.initiatives[k].population.count is None)
    if counted:
        raise ParamsError(
            f"ValueInputs.population_by_initiative names {counted}, whose population is customers in segments; "
            "pass customers through customers_by_segment instead"
        )
    counts = dict(inputs.population_by_initiative or {})
    initial = dict(inputs.initial_cost_by_initiative or {})
    monthly = dict(inputs.recurring_monthly_cost_by_initiative or {})
    shares = dict(inputs.measured_share_by_initiative or {})
    out = dict(model.initiatives)
    for key, ini in model.initiatives.items():
        update: dict[str, Any] = {}
        population: dict[str, Any] = {}
        if key in counts and ini.population.count is not None:
            population["count"] = ini.population.count.rescaled(float(counts[key]), "warehouse")
        if key in shares:
            population["measured_share"] = float(shares[key])
        if population:
            update["population"] = ini.population.model_copy(update=population)
        costs: dict[str, Quantity] = {}
        if key in initial:
            costs["initial"] = ini.costs.initial.rescaled(float(initial[key]), "warehouse")
        if key in monthly:
            costs["recurring_monthly"] = ini.costs.recurring_monthly.rescaled(float(monthly[key]), "warehouse")
        if costs:
            update["costs"] = ini.costs.model_copy(update=costs)
        out[key] = ini.model_copy(update=update) if update else ini
    return out


def chain_quantities(model: ValueModel, key: str) -> dict[str, Quantity]:
    """Every uncertain number the initiative's value chain and costs need, by name.

    Names: ``effect``, ``link:<to>``, ``causal_share:<to>`` (a link whose slope is an
    association), ``population`` (a stated count), ``clv:<segment>``,
    ``cost_per_ticket``, ``<agent|employee>_hourly_rate``, ``outage_revenue_per_minute``,
    ``revenue_per_conversion``, ``conversion_margin``, ``cost:initial``,
    ``cost:recurring_monthly``.

    Parameters
    ----------
    model : ValueModel
        The value model.
    key : str
        Initiative id.

    Returns
    -------
    dict of str to Quantity
    """
    ini = model.initiative(key)
    q: dict[str, Quantity] = {"effect": ini.effect}
    q.update({f"link:{link.to}": link.per_unit for link in ini.links})
    q.update({f"causal_share:{link.to}": link.causal_share.quantity() for link in ini.links if link.source == "drivers"})
    if ini.population.count is not None:
        q["population"] = ini.population.count
    if ini.money == "churn_avoided":
        q.update({f"clv:{s}": model.segments[s].clv_quantity() for s in ini.population.segments or ()})
    elif ini.money == "tickets_prevented":
        q["cost_per_ticket"] = model.inputs.cost_per_ticket
    elif ini.money == "hours_saved":
        name = f"{ini.rate}_hourly_rate"
        q[name] = getattr(model.inputs, name)
    elif ini.money == "outage_avoided":
        q["outage_revenue_per_minute"] = model.inputs.outage_revenue_per_minute
    else:
        q["revenue_per_conversion"] = model.inputs.revenue_per_conversion
        q["conversion_margin"] = model.inputs.conversion_margin
    q["cost:initial"] = ini.costs.initial
    q["cost:recurring_monthly"] = ini.costs.recurring_monthly
    return q


@dataclass(frozen=True)
class ChainSteps:
    """The value chain evaluated: one array (or 0-d array) per step.

    Attributes
    ----------
    it_change : numpy.ndarray
        Change in the IT metric.
    outcome_change : numpy.ndarray
        Change in the outcome metric the money conversion applies to.
    population : numpy.ndarray
        Customers (or events) affected per month.
    units_per_month : numpy.ndarray
        Customers kept, tickets prevented, hours saved... per month (positive = gain).
    unit_value : numpy.ndarray
        Money per unit (CLV weighted by each segment's churners, cost per ticket, hourly rate...).
    value_per_month : numpy.ndarray
        Money per month at full adoption.
    """

    it_change: np.ndarray
    outcome_change: np.ndarray
    population: np.ndarray
    units_per_month: np.ndarray
    unit_value: np.ndarray
    value_per_month: np.ndarray


def chain_value(model: ValueModel, key: str, values: Mapping[str, np.ndarray | float]) -> ChainSteps:
    """Evaluate the value chain on given numbers (central values or Monte Carlo draws).

    Parameters
    ----------
    model : ValueModel
        The value model.
    key : str
        Initiative id.
    values : mapping of str to array-like
        One entry per name of :func:`chain_quantities`.

    Returns
    -------
    ChainSteps
        ``units = sign x outcome change x population`` and ``money = units x unit value``,
        where sign makes a fall in churn, tickets, hours or outage minutes a gain.
    """
    ini = model.initiative(key)
    it_change = np.asarray(values["effect"], dtype=float)
    outcome = chained_outcome(model, key, values) if "outcome" not in values else np.asarray(values["outcome"], float)
    if ini.population.segments is not None:
        sizes = np.array([model.segments[s].customers for s in ini.population.segments])
        population = np.asarray(sizes.sum())
    else:
        population = np.asarray(values["population"], dtype=float)
    if ini.population.measured_share is not None and not ini.extrapolate:
        population = population * ini.population.measured_share
    per_unit = unit_value(model, key, values)
    units = MONEY_SIGN[ini.money] * outcome * population
    return ChainSteps(it_change, outcome, population, units, per_unit, units * per_unit)


def unit_value(model: ValueModel, key: str, values: Mapping[str, np.ndarray | float]) -> np.ndarray:
    """Money per unit of an initiative's value chain (the chain's last step before money).

    Parameters
    ----------
    model : ValueModel
        The value model.
    key : str
        Initiative id.
    values : mapping of str to array-like
        The names of :func:`chain_quantities` the money conversion reads (``clv:<segment>``,
        ``cost_per_ticket``...), as central values or draws.

    Returns
    -------
    numpy.ndarray
        A customer kept is worth the segments' lifetime values weighted as the churners are
        spread (:func:`churn_weights`); a conversion its revenue times its margin; a ticket,
        an hour or an outage minute its stated or computed price.
    """
    ini = model.initiative(key)
    if ini.money == "churn_avoided":
        clvs = np.stack([np.asarray(values[f"clv:{s}"], dtype=float) for s in ini.population.segments or ()])
        return np.tensordot(churn_weights(model, key), clvs, axes=1)
    if ini.money == "conversions_gained":
        return np.asarray(values["revenue_per_conversion"], dtype=float) * np.asarray(values["conversion_margin"])
    name = {
        "tickets_prevented": "cost_per_ticket",
        "hours_saved": f"{ini.rate}_hourly_rate",
        "outage_avoided": "outage_revenue_per_minute",
    }[ini.money]
    return np.asarray(values[name], dtype=float)


def chained_outcome(model: ValueModel, key: str, values: Mapping[str, np.ndarray | float]) -> np.ndarray:
    """The outcome change through the chain: the effect times each link's slope (times its causal share).

    Parameters
    ----------
    model : ValueModel
        The value model.
    key : str
        Initiative id.
    values : mapping of str to array-like
        ``effect``, ``link:<to>`` and, for an associational link, ``causal_share:<to>``.

    Returns
    -------
    numpy.ndarray
    """
    outcome = np.asarray(values["effect"], dtype=float)
    for link in model.initiative(key).links:
        share = np.asarray(values.get(f"causal_share:{link.to}", 1.0), dtype=float)
        outcome = outcome * np.asarray(values[f"link:{link.to}"], dtype=float) * share
    return outcome


def churn_weights(model: ValueModel, key: str) -> np.ndarray:
    """Share of the customers kept in each of the initiative's segments.

    A change in the average churn rate is a change in churners: the customers kept are
    spread over the segments as the churners are (customers x churn rate).
    """
    segments = model.initiative(key).population.segments or ()
    sizes = np.array([model.segments[s].customers for s in segments])
    churners = sizes * np.array([model.segments[s].churn_rate for s in segments])
    return churners / churners.sum() if churners.sum() > 0 else np.full(len(sizes), 1.0 / len(sizes))

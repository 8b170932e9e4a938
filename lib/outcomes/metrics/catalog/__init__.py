"""The metric catalog: ``metrics.yaml`` loaded once into frozen, typed objects.

Every metric the kit computes, shows or documents is declared in
``lib/outcomes/metrics/catalog/metrics.yaml``: its business question, formula, unit, better
direction, owner, measurement area, default target, definition source and benchmark.
:func:`get` and :func:`all_metrics` read it; :func:`render_glossary` turns it into
``docs/metrics.md``.
"""

from __future__ import annotations

import difflib
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from outcomes import config
from outcomes import format as fmt
from outcomes.errors import ParamsError
from outcomes.params import format_validation_error, read_yaml

CATALOG_PATH: Path = Path(__file__).resolve().parent / "metrics.yaml"

#: Segment dimensions every metric is computed for ("all" is the whole company).
DIMENSIONS: tuple[str, ...] = ("all", "region", "customer_segment", "channel", "service")

Direction = Literal["higher_is_better", "lower_is_better", "balance"]
Owner = Literal["CIO", "CMO", "joint"]
Area = Literal["cost_revenue", "utilization", "user_experience", "customer_experience"]
Kind = Literal["sum", "mean", "other"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Metric(_Frozen):
    """One metric of the catalog.

    Parameters
    ----------
    id : str
        Identifier used everywhere (panel, targets, results.json).
    name : str
        Display name.
    question : str
        The business question the metric answers.
    formula : str
        The definition in words.
    computation : str
        The definition as computed on the canonical tables.
    unit : str
        Unit of the stored value; ``%`` means a fraction (0.27) shown as a percentage.
    n : str
        What the count ``n`` next to each value counts (the units behind it).
    direction : {"higher_is_better", "lower_is_better", "balance"}
        Which way is better; ``balance`` metrics are on target within ``tolerance``.
    owner : {"CIO", "CMO", "joint"}
        Who answers for it.
    area : {"cost_revenue", "utilization", "user_experience", "customer_experience"}
        Measurement area it is reported under.
    group : str, optional
        A grouping within the area (a key of :data:`Catalog.groups`), such as DORA's
        throughput and instability; shown beside the area on the scorecard.
    kind : {"sum", "mean", "other"}
        How segment values make up the total: a sum, an ``n``-weighted mean, or neither.
    empty : {"zero", "null"}
        Value of a segment-month without data.
    target : float, optional
        Default target, overridden by ``params/targets.yaml``.
    tolerance : float, optional
        For ``balance`` metrics, the accepted distance from the target.
    suppress : bool
        A customer (or personal) metric: values resting on fewer than ``min_customers``
        units are withheld.
    not_by : dict
        Segment dimensions it cannot be cut by, with the reason.
    source : str
        Reference key of the definition (see :data:`Catalog.references`).
    benchmark : str, optional
        Published benchmark, with its reference key.
    actions : tuple of str
        Standard levers to move the metric, used by the scorecard's prescriptions.
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    question: str
    formula: str
    computation: str
    unit: str
    n: str
    direction: Direction
    owner: Owner
    area: Area
    group: str | None = None
    kind: Kind
    empty: Literal["zero", "null"] = "null"
    target: float | None = None
    tolerance: float | None = None
    suppress: bool = False
    not_by: dict[str, str] = Field(default_factory=dict)
    source: str
    benchmark: str | None = None
    actions: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Metric:
        unknown = set(self.not_by) - set(DIMENSIONS[1:])
        if unknown:
            raise ValueError(f"not_by names unknown dimensions {sorted(unknown)}; valid: {list(DIMENSIONS[1:])}")
        if self.direction == "balance" and (self.target is None or self.tolerance is None):
            raise ValueError("a balance metric needs both a target and a tolerance")
        try:
            fmt.value(1.0, self.unit)
        except fmt.FormatError as exc:
            raise ValueError(str(exc)) from None
        if self.kind == "mean" and self.unit in fmt.COUNT_UNITS - {"minutes"}:
            raise ValueError(
                f"unit {self.unit!r} writes whole numbers, but a mean is not one (0.3 would read 0); "
                "give the unit per what is averaged, e.g. 'reassignments/ticket'"
            )
        return self

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The segment dimensions this metric can be cut by (always including ``all``)."""
        return tuple(d for d in DIMENSIONS if d not in self.not_by)

    @property
    def is_rate(self) -> bool:
        """Whether the value is a fraction shown as a percentage (changes in pp)."""
        return self.unit == "%"

    def better(self, new: float, old: float) -> bool:
        """Whether ``new`` is better than ``old`` (for balance metrics: closer to target)."""
        if self.direction == "higher_is_better":
            return new > old
        if self.direction == "lower_is_better":
            return new < old
        assert self.target is not None
        return abs(new - self.target) < abs(old - self.target)


class Catalog(_Frozen):
    """The whole catalog: reference list, measurement areas, groups within areas and metrics."""

    references: dict[str, str]
    areas: dict[Area, str]
    groups: dict[str, str] = Field(default_factory=dict)
    metrics: tuple[Metric, ...]

    @model_validator(mode="after")
    def _check(self) -> Catalog:
        ids = [m.id for m in self.metrics]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate metric ids {dupes}")
        for m in self.metrics:
            if m.source not in self.references:
                raise ValueError(f"metric '{m.id}': source '{m.source}' is not in references")
            if m.group is not None and m.group not in self.groups:
                raise ValueError(f"metric '{m.id}': group '{m.group}' is not in groups; valid: {sorted(self.groups)}")
        return self


@lru_cache(maxsize=1)
def load_catalog(path: Path = CATALOG_PATH) -> Catalog:
    """Read and validate ``metrics.yaml`` (cached).

    Parameters
    ----------
    path : Path
        The catalog file.

    Returns
    -------
    Catalog
        The frozen catalog.

    Raises
    ------
    ParamsError
        Naming the file and the key when the catalog is invalid.
    """
    from pydantic import ValidationError

    try:
        return Catalog.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise ParamsError(format_validation_error(exc, Catalog, str(path))) from None


def all_metrics() -> tuple[Metric, ...]:
    """All metrics, in catalog order."""
    return load_catalog().metrics


def ids() -> tuple[str, ...]:
    """All metric ids, in catalog order."""
    return tuple(m.id for m in all_metrics())


def get(metric_id: str) -> Metric:
    """Return the metric called ``metric_id``.

    Raises
    ------
    KeyError
        With the closest valid ids when ``metric_id`` is unknown.
    """
    for m in all_metrics():
        if m.id == metric_id:
            return m
    hint = difflib.get_close_matches(metric_id, ids(), n=3)
    did = f" (did you mean {', '.join(repr(h) for h in hint)}?)" if hint else ""
    raise KeyError(
        f"unknown metric '{metric_id}'{did}; metrics are defined in {CATALOG_PATH.name}: {', '.join(ids())}"
    )


_IDENTIFIER = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


def in_words(text: str) -> str:
    """``text`` with metric ids and other ``snake_case`` names written as readers say them.

    A catalog id becomes the metric's name (lower-cased unless it starts with an acronym),
    any other identifier its words.

    Examples
    --------
    >>> in_words("Change in churn_rate per +1 tickets_prevented")
    'Change in churn rate per +1 tickets prevented'
    """

    def name(match: re.Match[str]) -> str:
        ident = match.group(0)
        if ident not in ids():
            return ident.replace("_", " ")
        label = get(ident).name
        return label if label[:2].isupper() else label[:1].lower() + label[1:]

    return _IDENTIFIER.sub(name, str(text))


def area_name(area: str) -> str:
    """Display name of a measurement area."""
    return load_catalog().areas[area]  # type: ignore[index]


def placed_name(metric_id: str) -> str:
    """Where a metric is reported: its area's name, followed by its group's when it has one.

    Examples
    --------
    >>> placed_name("deployment_rework_rate")
    'Customer experience: delivery instability'
    >>> placed_name("csat")
    'Customer experience'
    """
    m = get(metric_id)
    area = area_name(m.area)
    if m.group is None:
        return area
    group = load_catalog().groups[m.group]
    return f"{area}: {group[:1].lower()}{group[1:]}"


_DIRECTION_WORDS = {"higher_is_better": "higher", "lower_is_better": "lower", "balance": "balance"}


def _cell(text: object) -> str:
    return "" if text is None else str(text).replace("|", "\\|").replace("\n", " ")


def _target_text(m: Metric) -> str:
    """The default target as written in the glossary: "82%", "4 hours", "22 points ± 5"."""
    if m.target is None:
        return "none"
    if m.is_rate:
        text = fmt.percent(m.target, exact_digits=True)
        return text if m.tolerance is None else f"{text} ± {fmt.percent(m.tolerance, exact_digits=True)}"
    text = f"{fmt.exact(m.target)} {m.unit}"
    return text if m.tolerance is None else f"{text} ± {fmt.exact(m.tolerance)}"


def render_glossary() -> str:
    """Render the metric glossary (the content of ``docs/metrics.md``) from the catalog.

    Returns
    -------
    str
        Markdown: one summary table per measurement area, one section per metric and the
        reference list.
    """
    cat = load_catalog()
    lines = [
        "# Metric glossary",
        "",
        "<!-- Generated from lib/outcomes/metrics/catalog/metrics.yaml by outcomes.metrics.catalog.render_glossary(); do not edit. -->",
        "",
        "Every metric the kit computes, with the business question it answers, its formula, unit, better",
        "direction, owner, default target (overridden in `params/targets.yaml`) and the source of its definition.",
        "Rates are stored as fractions and shown as %; their changes are in percentage points (pp).",
        "Benchmarks are survey averages: context for a trend line, not targets.",
        "",
        "Each metric is computed per month and per segment: `all`, `region`, `customer_segment`, `channel`",
        "(the ticket's contact channel) and `service`. Ticket metrics take the requester's region (the ticket's",
        "region, else the customer's) and, for customer requesters, the customer's segment; tickets without one",
        "are shown as `unassigned`. Customer metrics by service count the customers whose region a customer-facing",
        "service serves (from the service map), so a customer counts under every such service and service values",
        "do not add up to the total. A metric that cannot be cut by a dimension is NULL there, with the reason.",
        "Values of customer metrics resting on fewer than `min_customers` (default 10) units are suppressed.",
        "",
    ]
    for area, title in cat.areas.items():
        members = [m for m in cat.metrics if m.area == area]
        lines += [f"## {title}", "", "| id | metric | unit | better | owner | target | source |", "|---|---|---|---|---|---|---|"]
        for m in members:
            lines.append(
                f"| [`{m.id}`](#{m.id}) | {_cell(m.name)} | {_cell(m.unit)} | {_DIRECTION_WORDS[m.direction]} "
                f"| {m.owner} | {_cell(_target_text(m))} | [{m.source}] |"
            )
        lines.append("")
    lines += ["## Definitions", ""]
    for m in cat.metrics:
        lines += [
            f"### {m.id}",
            "",
            f"**{m.name}**: {m.question}",
            "",
            f"- Formula: {m.formula}",
            f"- Computed as: `{m.computation}`",
            f"- Unit: {m.unit}; n counts {m.n}",
            f"- Better: {_DIRECTION_WORDS[m.direction]}; owner: {m.owner}; area: {placed_name(m.id)}",
            f"- Default target: {_target_text(m)}",
            f"- Segments: {', '.join(m.dimensions)}",
        ]
        for dim, reason in m.not_by.items():
            lines.append(f"- Not by {dim}: {reason}")
        if m.suppress:
            lines.append("- Customer metric: suppressed below `min_customers` units")
        lines.append(f"- Source: [{m.source}]")
        if m.benchmark:
            lines.append(f"- Benchmark: {m.benchmark}")
        if m.actions:
            lines.append(f"- Levers: {' '.join(m.actions)}")
        lines.append("")
    lines += ["## References", ""]
    for key, ref in cat.references.items():
        lines.append(f"- [{key}] {ref}")
    lines.append("")
    return "\n".join(lines)


def glossary_path() -> Path:
    """The project's metric glossary page, ``docs/metrics.md``."""
    return config.project().docs_dir / "metrics.md"


def write_glossary(path: Path | None = None) -> Path:
    """Write :func:`render_glossary` to ``path`` (:func:`glossary_path` by default) and return it."""
    path = path if path is not None else glossary_path()
    path.write_text(render_glossary(), encoding="utf-8")
    return path

"""Churn drivers: how customer attributes go with churn, and the revenue at stake.

The input is a customer table a user brings: one row per customer, a churned flag, a
recurring monthly revenue and the attributes to study (services held, contract type...),
described by a parameters file (``params/churn/<name>.yaml``, model :class:`ChurnSpec`).
The pipeline, one step per function:

1. :func:`customer_groups` reads the table in DuckDB (through Ibis) and aggregates it to
   one row per distinct combination of attributes and controls: customers, churners,
   their monthly revenue. Only these aggregates leave the engine; customer ids are used
   to check that each customer appears once and are then dropped.
2. :func:`churn_rates` gives the churn rate of every attribute level with a Wilson
   interval, and its difference from the attribute's reference level with Newcombe's
   hybrid score interval (``statsmodels.stats.proportion``).
3. :func:`fit_churn_model` fits a logistic regression of churn on all attributes and the
   controls (a binomial GLM on the grouped counts, which has the same estimates and
   standard errors as a logit on the customer rows) and gives odds ratios and average
   marginal effects (AME, discrete change from the reference level, averaged over the
   customers to whom the attribute applies) with delta-method intervals.
4. :func:`value_at_stake` sums the monthly revenue of churners per attribute group and
   prices one scenario: customers at one level of an attribute churning as if they were
   at another level (e.g. customers without tech support churning like those with it),
   from the model with its delta-method interval, for a stated margin and horizon.
5. :func:`findings` turns the results into the rows of the ``findings`` results section.

Every estimate here is an association in observational data: customers choose their
services and contracts, so a difference in churn need not be caused by the attribute.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
from statsmodels.genmod.families import Binomial
from statsmodels.genmod.generalized_linear_model import GLM
from pydantic import Field, model_validator
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from IPython.display import Markdown

from outcomes import config
from outcomes import format as fmt
from outcomes.errors import ParamsError
from outcomes.casestudy.findings import Section, finding
from outcomes.params import Params, load
from outcomes.report.text import escape_md

#: A group whose fitted churn probability is this close to 0 or 1 signals separation.
SEPARATION_TOL = 1e-6

CAVEAT = (
    "These are associations in observational data, not proven causes: customers choose their services and "
    "contracts, and what makes them choose may also make them stay."
)


class ChurnTable(Params):
    """Where the customer table is and which columns hold what.

    Parameters
    ----------
    path : str
        CSV or Parquet file, relative to the spec's ``raw_dir`` unless absolute.
    unit : str
        Customer id column: checked for duplicates, never shown.
    churned : str
        Column that says whether the customer left.
    churned_values : list of str
        Values of ``churned`` (as text) that mean "left"; every other value means "stayed".
    monthly_revenue : str
        Column with the customer's recurring revenue per month.
    null_values : list of str
        Strings that mean "empty" in a CSV (e.g. a single space).
    """

    path: str
    unit: str
    churned: str
    churned_values: list[str] = Field(default_factory=lambda: ["Yes"], min_length=1)
    monthly_revenue: str
    null_values: list[str] = Field(default_factory=list)


class _TableColumn(Params):
    """A column of the customer table with the name reports show for it."""

    column: str
    label: str | None = None

    @property
    def name(self) -> str:
        """The label, defaulting to the column name."""
        return self.label or self.column


class ChurnAttribute(_TableColumn):
    """An attribute whose relation with churn is studied (a service held, a contract type).

    Parameters
    ----------
    column : str
        Column of the table.
    label : str, optional
        Name shown in reports (default: the column name).
    reference : str
        The level every other level is compared with (e.g. ``No``, ``Month-to-month``).
    not_applicable : list of str
        Levels meaning the attribute does not apply (``No internet service`` for an internet
        add-on): kept in the model as their own level, left out of the attribute's marginal
        effects.
    """

    reference: str
    not_applicable: list[str] = Field(default_factory=list)


class ChurnControl(_TableColumn):
    """A control variable of the regression.

    Parameters
    ----------
    column : str
        Column of the table.
    label : str, optional
        Name shown in reports.
    reference : str, optional
        For a category: its baseline level. Without it the column must be numeric and
        enters the model linearly (tenure in months, for example).
    """

    reference: str | None = None


class ValueScenario(Params):
    """The revenue scenario: customers at one level churning like those at another.

    Parameters
    ----------
    attribute : str
        Column of one of the spec's attributes.
    from_level, to_level : str
        Customers at ``from_level`` (e.g. without tech support) are priced as if they had
        the churn probability of ``to_level`` (with it), everything else equal.
    margin : float
        Gross margin as a share of revenue: an assumption the user states, in (0, 1].
    horizon_months : int
        Months of revenue a kept customer is counted for; when the spec states the churn
        flag's ``churn_window_months``, it must equal them (a churn probability over one
        quarter keeps a customer for that quarter, not for a year).
    """

    attribute: str
    from_level: str
    to_level: str
    margin: float = Field(gt=0, le=1)
    horizon_months: int = Field(default=12, gt=0)


class Unavailable(Params):
    """A metric the data cannot support, with the field that is missing."""

    metric: str
    missing: str


class ChurnSpec(Params):
    """A churn-drivers analysis of a user's customer table (``params/churn/<name>.yaml``).

    Parameters
    ----------
    name : str
        Shown in reports.
    description : str
        What the data are, in a sentence or two (provenance, period).
    raw_dir : str
        Folder that ``data.path`` starts from; relative paths start at the project root.
    data : ChurnTable
        The table and its columns.
    attributes : list of ChurnAttribute
        The attributes studied.
    controls : list of ChurnControl
        Adjusted for in the regression, not reported as drivers.
    value : ValueScenario, optional
        The revenue scenario.
    currency : str
        Currency of ``monthly_revenue``.
    alpha : float
        Two-sided level of every interval, in (0, 1).
    min_group : int
        Groups with fewer customers are suppressed in tables and charts.
    unavailable : list of Unavailable
        Metrics the data cannot support, listed in the report.
    churn_window_months : int, optional
        Months the churned flag covers (3 for a quarter's departures). When set, the value
        scenario's ``horizon_months`` must equal it.
    """

    name: str
    description: str = ""
    raw_dir: str = "."
    data: ChurnTable
    attributes: list[ChurnAttribute] = Field(min_length=1)
    controls: list[ChurnControl] = Field(default_factory=list)
    value: ValueScenario | None = None
    currency: str = ""
    alpha: float = Field(default=0.05, gt=0, lt=1)
    min_group: int = Field(default=30, ge=1)
    unavailable: list[Unavailable] = Field(default_factory=list)
    churn_window_months: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> ChurnSpec:
        names = [a.column for a in self.attributes] + [c.column for c in self.controls]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"columns {repeated} are listed more than once among attributes and controls; list each once")
        for a in self.attributes:
            if a.reference in a.not_applicable:
                raise ValueError(f"attribute '{a.column}': reference '{a.reference}' cannot also be not_applicable")
        if self.value is not None:
            attr = {a.column: a for a in self.attributes}.get(self.value.attribute)
            if attr is None:
                raise ValueError(
                    f"value.attribute '{self.value.attribute}' is not an attribute; attributes are {sorted(a.column for a in self.attributes)}"
                )
            bad = {self.value.from_level, self.value.to_level} & set(attr.not_applicable)
            if bad:
                raise ValueError(f"value levels {sorted(bad)} are not_applicable levels of '{attr.column}'; pick levels it applies to")
            window = self.churn_window_months
            if window is not None and self.value.horizon_months != window:
                raise ValueError(
                    f"value.horizon_months is {self.value.horizon_months} but churn_window_months is {window}: the churned "
                    f"flag counts departures over {window} months, so a kept customer is counted for the same {window} "
                    f"months; set value.horizon_months: {window}"
                )
        return self

    @property
    def table_path(self) -> Path:
        """The table's absolute path."""
        path = Path(self.data.path)
        return path if path.is_absolute() else config.resolve(self.raw_dir) / path

    def attribute(self, column: str) -> ChurnAttribute:
        """Return the attribute of ``column``."""
        for a in self.attributes:
            if a.column == column:
                return a
        raise KeyError(f"no attribute '{column}'; attributes are {[a.column for a in self.attributes]}")


def load_spec(path: str | Path, *, raw_dir: str | Path | None = None) -> ChurnSpec:
    """Load a churn spec, optionally pointing it at another folder of the same files.

    Parameters
    ----------
    path : str or Path
        The YAML file; relative paths start at the project root.
    raw_dir : str or Path, optional
        Overrides the file's ``raw_dir`` (e.g. a committed excerpt instead of the full data).

    Returns
    -------
    ChurnSpec
        The validated spec.
    """
    spec = load(config.resolve(path), ChurnSpec)
    if raw_dir is not None:
        spec = spec.model_copy(update={"raw_dir": str(raw_dir)})
    return spec


# ---------------------------------------------------------------------------------------
# 1. Aggregate the table in the engine
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerGroups:
    """The customer table aggregated to one row per combination of attributes and controls.

    Attributes
    ----------
    groups : DataFrame
        One column per attribute and control, then ``customers``, ``churners``,
        ``revenue`` (monthly revenue of all its customers) and ``churner_revenue``.
    rows_read : int
        Rows in the table.
    rows_excluded : int
        Rows left out because a used column was empty.
    """

    groups: pd.DataFrame
    rows_read: int
    rows_excluded: int

    @property
    def customers(self) -> int:
        """Customers analysed."""
        return int(self.groups["customers"].sum())

    @property
    def churners(self) -> int:
        """Customers analysed who left."""
        return int(self.groups["churners"].sum())

    def summary(self) -> str:
        """One sentence on what was read."""
        text = f"{self.customers:,} customers analysed, {self.churners:,} of whom left ({self.churners / self.customers:.1%})."
        if self.rows_excluded:
            text += f" {self.rows_excluded:,} of {self.rows_read:,} rows were left out because a column used here was empty."
        return text


def _read(spec: ChurnSpec) -> ibis.Table:
    path = spec.table_path
    if not path.is_file():
        raise ParamsError(
            f"churn table {path} not found (raw_dir '{spec.raw_dir}' + data.path '{spec.data.path}'); "
            "point raw_dir or data.path at your copy of the table"
        )
    con = ibis.duckdb.connect()
    if path.suffix.lower() in (".parquet", ".pq"):
        return con.read_parquet(path)
    # Every CSV column is read as text, so values compare exactly as written in the file
    # (DuckDB would otherwise turn Yes/No into booleans); numbers are cast where needed.
    kwargs = {"nullstr": spec.data.null_values} if spec.data.null_values else {}
    return con.read_csv(path, all_varchar=True, **kwargs)


def customer_groups(spec: ChurnSpec) -> CustomerGroups:
    """Read the customer table and aggregate it per combination of attributes and controls.

    Parameters
    ----------
    spec : ChurnSpec
        The analysis spec.

    Returns
    -------
    CustomerGroups
        Aggregates only.

    Raises
    ------
    ParamsError
        When the file or a named column is missing, a customer appears more than once,
        or a numeric control or the revenue is not numeric.
    """
    t = _read(spec)
    where = str(spec.table_path)
    d = spec.data
    needed = {"data.unit": d.unit, "data.churned": d.churned, "data.monthly_revenue": d.monthly_revenue}
    needed |= {f"attributes[{i}].column": a.column for i, a in enumerate(spec.attributes)}
    needed |= {f"controls[{i}].column": c.column for i, c in enumerate(spec.controls)}
    missing = [f"{key}={col!r}" for key, col in needed.items() if col not in t.columns]
    if missing:
        raise ParamsError(f"{where}: column(s) not found: {', '.join(missing)}. Columns in the table: {list(t.columns)}")
    numeric = [("data.monthly_revenue", d.monthly_revenue)] + [
        (f"controls '{c.column}'", c.column) for c in spec.controls if c.reference is None
    ]
    for key, col in numeric:
        if t[col].type().is_numeric():
            continue
        bad = t.filter(t[col].notnull() & t[col].try_cast("float64").isnull())
        found = bad.aggregate(rows=bad.count(), example=bad[col].cast("string").min()).to_pandas().iloc[0]
        if int(found["rows"]):
            raise ParamsError(
                f"{where}: column '{col}' ({key}) must be numeric, but {int(found['rows']):,} rows are not, e.g. {found['example']!r}; "
                "list its empty markers in data.null_values, or give a control a reference level to treat it as a category"
            )
    counts = t.aggregate(rows=t.count(), ids=t[d.unit].nunique()).to_pandas().iloc[0]
    if int(counts["rows"]) != int(counts["ids"]):
        raise ParamsError(
            f"{where}: column '{d.unit}' (data.unit) repeats: {int(counts['rows']):,} rows but {int(counts['ids']):,} distinct ids; "
            "the table must hold one row per customer"
        )
    exprs = {a.column: t[a.column].cast("string") for a in spec.attributes}
    for c in spec.controls:
        exprs[c.column] = t[c.column].cast("string") if c.reference is not None else t[c.column].cast("float64")
    keys = list(exprs)
    churned = t[d.churned].cast("string").isin(d.churned_values)
    used = t.mutate(**exprs, _churned=churned.cast("int64"), _revenue=t[d.monthly_revenue].cast("float64"))
    complete = used.drop_null([*keys, "_churned", "_revenue", d.churned])
    grouped = (
        complete.group_by(keys)
        .aggregate(
            customers=complete.count(),
            churners=complete._churned.sum(),
            revenue=complete._revenue.sum(),
            churner_revenue=(complete._revenue * complete._churned).sum(),
        )
        .order_by(keys)
        .to_pandas()
    )
    grouped[["customers", "churners"]] = grouped[["customers", "churners"]].astype("int64")
    rows = int(counts["rows"])
    return CustomerGroups(groups=grouped, rows_read=rows, rows_excluded=rows - int(grouped["customers"].sum()))


# ---------------------------------------------------------------------------------------
# 2. Churn rates with intervals
# ---------------------------------------------------------------------------------------


def _levels(values: pd.Series, reference: str) -> list[str]:
    """The reference level first, then the others in sorted order."""
    others = sorted(v for v in pd.unique(values) if v != reference)
    return [reference, *others]


def churn_rates(groups: CustomerGroups, spec: ChurnSpec) -> pd.DataFrame:
    """Churn rate of every attribute level, with Wilson intervals and the gap to the reference.

    Parameters
    ----------
    groups : CustomerGroups
        From :func:`customer_groups`.
    spec : ChurnSpec
        The analysis spec.

    Returns
    -------
    DataFrame
        One row for all customers (``attribute`` ``all``) and one per attribute level:
        ``attribute`` (column), ``label``, ``level``, ``reference`` (bool), ``customers``,
        ``churners``, ``rate``, ``rate_low``, ``rate_high`` (Wilson), ``diff``, ``diff_low``,
        ``diff_high`` (rate minus the reference level's, Newcombe hybrid score interval;
        empty for the reference), ``suppressed`` (fewer than ``min_group`` customers: rates
        and counts blanked). Rates are fractions.
    """
    g = groups.groups
    rows = [{"attribute": "all", "label": "All customers", "level": "all", "reference": True,
             "customers": int(g["customers"].sum()), "churners": int(g["churners"].sum())}]
    for a in spec.attributes:
        by = g.groupby(a.column)[["customers", "churners"]].sum()
        ref = by.loc[a.reference] if a.reference in by.index else None
        for level in _levels(by.index.to_series(), a.reference):
            if level not in by.index:
                continue
            row = {"attribute": a.column, "label": a.name, "level": level, "reference": level == a.reference,
                   "customers": int(by.loc[level, "customers"]), "churners": int(by.loc[level, "churners"])}
            if ref is not None and level != a.reference:
                lo, hi = confint_proportions_2indep(
                    row["churners"], row["customers"], int(ref["churners"]), int(ref["customers"]),
                    method="newcomb", compare="diff", alpha=spec.alpha,
                )
                row |= {"diff": row["churners"] / row["customers"] - ref["churners"] / ref["customers"],
                        "diff_low": float(lo), "diff_high": float(hi)}
            rows.append(row)
    out = pd.DataFrame(rows)
    for col in ("diff", "diff_low", "diff_high"):
        if col not in out:
            out[col] = np.nan
    out["rate"] = out["churners"] / out["customers"]
    low, high = proportion_confint(out["churners"], out["customers"], alpha=spec.alpha, method="wilson")
    out["rate_low"], out["rate_high"] = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    out["suppressed"] = out["customers"] < spec.min_group
    blank = ["churners", "rate", "rate_low", "rate_high", "diff", "diff_low", "diff_high"]
    out[blank] = out[blank].astype(float)
    out.loc[out["suppressed"], blank] = np.nan
    cols = ["attribute", "label", "level", "reference", "customers", "churners", "rate", "rate_low", "rate_high",
            "diff", "diff_low", "diff_high", "suppressed"]
    return out[cols]


# ---------------------------------------------------------------------------------------
# 3. Logistic regression with controls
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Design:
    """How a frame of attributes and controls becomes the regression's design matrix.

    Attributes
    ----------
    levels : dict
        Category column -> its levels, reference first (the reference gets no column).
    numeric : list of str
        Numeric controls, entered as they are.
    columns : list of str
        Design column names kept (``const``, ``column[level]``, numeric names).
    dropped : dict
        Design column -> why it was left out (identical to a kept column, or constant).
    """

    levels: dict[str, list[str]]
    numeric: list[str]
    columns: list[str]
    dropped: dict[str, str]

    def full(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Every candidate design column, before dropping, in order."""
        parts = {"const": np.ones(len(frame))}
        for col in self.numeric:
            parts[col] = frame[col].to_numpy(dtype=float)
        for col, levels in self.levels.items():
            values = frame[col].to_numpy()
            for level in levels[1:]:
                parts[f"{col}[{level}]"] = (values == level).astype(float)
        return parts

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The design matrix of ``frame`` (columns :attr:`columns`)."""
        parts = self.full(frame)
        return np.column_stack([parts[name] for name in self.columns])


def _build_design(frame: pd.DataFrame, spec: ChurnSpec) -> Design:
    """Controls first, then attributes; drop columns that are constant or repeat an earlier one."""
    levels: dict[str, list[str]] = {}
    numeric: list[str] = []
    for c in spec.controls:
        if c.reference is None:
            numeric.append(c.column)
        else:
            levels[c.column] = _levels(frame[c.column], c.reference)
    for a in spec.attributes:
        levels[a.column] = _levels(frame[a.column], a.reference)
    candidate = Design(levels, numeric, [], {})
    full = candidate.full(frame)
    kept: list[str] = []
    dropped: dict[str, str] = {}
    for name, values in full.items():
        if name != "const" and np.all(values == values[0]):
            dropped[name] = "constant in the data"
            continue
        same = next((k for k in kept if k != "const" and np.array_equal(full[k], values)), None)
        if same is not None:
            dropped[name] = f"identical to {same}"
            continue
        kept.append(name)
    return Design(levels, numeric, kept, dropped)


@dataclass(frozen=True)
class ChurnModel:
    """A logistic regression of churn on attributes and controls, fitted on grouped counts.

    Attributes
    ----------
    result : statsmodels GLMResults
        The fitted binomial GLM (logit link).
    design : Design
        How frames become design matrices.
    spec : ChurnSpec
        The analysis spec.
    groups : DataFrame
        The grouped data it was fitted on.
    status : str
        ``ok``, ``not_converged`` or ``separation`` (some level predicts churn perfectly;
        its estimates are not usable).
    """

    result: object
    design: Design
    spec: ChurnSpec
    groups: pd.DataFrame
    status: str

    @property
    def n(self) -> int:
        """Customers in the model."""
        return int(self.groups["customers"].sum())

    def odds_ratios(self) -> pd.DataFrame:
        """Odds ratio of every design column (constant excluded) with its interval and p-value.

        Returns
        -------
        DataFrame
            ``term``, ``odds_ratio``, ``ci_low``, ``ci_high``, ``p_value``.
        """
        res = self.result
        ci = np.asarray(res.conf_int(alpha=self.spec.alpha))
        with np.errstate(over="ignore"):  # a separated fit's huge coefficients give infinite odds ratios
            out = pd.DataFrame(
                {
                    "term": self.design.columns,
                    "odds_ratio": np.exp(np.asarray(res.params)),
                    "ci_low": np.exp(ci[:, 0]),
                    "ci_high": np.exp(ci[:, 1]),
                    "p_value": np.asarray(res.pvalues),
                }
            )
        return out[out["term"] != "const"].reset_index(drop=True)

    def _probabilities(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        x = self.design.matrix(frame)
        p = 1.0 / (1.0 + np.exp(-(x @ np.asarray(self.result.params))))
        return p, x

    def change(
        self, column: str, level: str, *, rows: np.ndarray, weights: np.ndarray, reference: str | None = None
    ) -> tuple[float, np.ndarray]:
        """Weighted sum of the change in churn probability when ``column`` moves to ``level``.

        For the selected group rows, ``sum(weights * (P(churn | column=level) -
        P(churn | column=reference)))``, everything else as observed.

        Parameters
        ----------
        column, level : str
            The attribute and the level it is set to.
        rows : ndarray of bool
            Which rows of :attr:`groups` take part.
        weights : ndarray
            One weight per selected row (customers for counts, revenue for money).
        reference : str, optional
            The level compared with (default: the attribute's reference level).

        Returns
        -------
        tuple
            The sum and its gradient with respect to the coefficients (for the delta method).
        """
        ref = reference if reference is not None else self.spec.attribute(column).reference
        frame = self.groups.loc[rows]
        p1, x1 = self._probabilities(frame.assign(**{column: level}))
        p0, x0 = self._probabilities(frame.assign(**{column: ref}))
        total = float(np.sum(weights * (p1 - p0)))
        grad = (weights * p1 * (1 - p1)) @ x1 - (weights * p0 * (1 - p0)) @ x0
        return total, grad

    def delta_interval(self, estimate: float, grad: np.ndarray) -> tuple[float, float, float]:
        """Standard error and interval of a smooth function of the coefficients (delta method)."""
        se = float(np.sqrt(grad @ np.asarray(self.result.cov_params()) @ grad))
        z = stats.norm.ppf(1 - self.spec.alpha / 2)
        return se, estimate - z * se, estimate + z * se

    def marginal_effects(self) -> pd.DataFrame:
        """Average marginal effect of every attribute level against its reference.

        The discrete change in churn probability from the reference level to the level,
        averaged over the customers to whom the attribute applies (levels not in
        ``not_applicable``), everything else as observed; delta-method intervals.

        Returns
        -------
        DataFrame
            ``attribute``, ``label``, ``level``, ``reference``, ``customers`` (averaged
            over), ``ame``, ``se``, ``ci_low``, ``ci_high`` (fractions), ``odds_ratio``,
            ``or_low``, ``or_high``.
        """
        ors = self.odds_ratios().set_index("term")
        rows = []
        for a in self.spec.attributes:
            applies = ~self.groups[a.column].isin(a.not_applicable).to_numpy()
            weights = self.groups.loc[applies, "customers"].to_numpy(dtype=float)
            for level in self.design.levels[a.column][1:]:
                term = f"{a.column}[{level}]"
                if level in a.not_applicable or term not in self.design.columns:
                    continue
                total, grad = self.change(a.column, level, rows=applies, weights=weights)
                ame, g = total / weights.sum(), grad / weights.sum()
                se, lo, hi = self.delta_interval(ame, g)
                rows.append(
                    {"attribute": a.column, "label": a.name, "level": level, "reference": a.reference,
                     "customers": int(weights.sum()), "ame": ame, "se": se, "ci_low": lo, "ci_high": hi,
                     "odds_ratio": ors.loc[term, "odds_ratio"], "or_low": ors.loc[term, "ci_low"],
                     "or_high": ors.loc[term, "ci_high"]}
                )
        return pd.DataFrame(rows)

    def notes(self) -> list[str]:
        """What the reader should know about the fit."""
        notes = [CAVEAT]
        if self.status == "separation":
            notes.append("Some level predicts churn perfectly in these data; its estimates are not usable.")
        elif self.status == "not_converged":
            notes.append("The regression did not converge; treat its estimates as unreliable.")
        for term, why in self.design.dropped.items():
            notes.append(f"{term} is not in the model: {why}.")
        return notes

    def sentences(self) -> list[str]:
        """One sentence per attribute level, then the notes."""
        out = []
        controls = ", ".join(c.name for c in self.spec.controls) or "no controls"
        level = 1 - self.spec.alpha
        for r in self.marginal_effects().itertuples():
            word = "less" if r.ame < 0 else "more"
            out.append(
                f"{r.label} '{r.level}' vs '{r.reference}': {_pp_size(r.ame)} pp {word} likely to churn "
                f"({level:.0%} CI {r.ci_low * 100:+.1f} to {r.ci_high * 100:+.1f} pp), "
                f"other attributes and {controls} held as observed."
            )
        return out + self.notes()

    def summary(self) -> str:
        """The statsmodels summary of the fit."""
        return str(self.result.summary())


def fit_churn_model(groups: CustomerGroups, spec: ChurnSpec) -> ChurnModel:
    """Fit the logistic regression of churn on every attribute and the controls.

    Parameters
    ----------
    groups : CustomerGroups
        From :func:`customer_groups`.
    spec : ChurnSpec
        The analysis spec.

    Returns
    -------
    ChurnModel
        The fit; ``status`` says whether it is usable.
    """
    frame = groups.groups.reset_index(drop=True)
    design = _build_design(frame, spec)
    x = design.matrix(frame)
    y = np.column_stack([frame["churners"], frame["customers"] - frame["churners"]]).astype(float)
    # statsmodels' own separation warning also fires when grouped proportions are fitted
    # exactly (a saturated model), so separation is judged from the fitted probabilities.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = GLM(y, x, family=Binomial()).fit()
    fitted = np.asarray(result.fittedvalues)
    status = "ok"
    if np.any((fitted < SEPARATION_TOL) | (fitted > 1 - SEPARATION_TOL)):
        status = "separation"
    elif any(issubclass(w.category, ConvergenceWarning) for w in caught) or not result.converged:
        status = "not_converged"
    return ChurnModel(result=result, design=design, spec=spec, groups=frame, status=status)


# ---------------------------------------------------------------------------------------
# 4. Revenue at stake
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChurnValue:
    """Monthly revenue of churners and the value of one churn-reduction scenario.

    Attributes
    ----------
    churner_revenue : DataFrame
        ``attribute``, ``label``, ``level``, ``customers``, ``churners``,
        ``churner_revenue_month`` and ``share`` of all churners' revenue; one row for all
        customers and one per attribute level (small groups blanked).
    scenario : ValueScenario or None
        The priced scenario.
    customers_at_stake : int
        Customers at ``from_level``.
    churners_avoided, churners_avoided_low, churners_avoided_high : float
        Expected churners fewer under the scenario (model), with its interval.
    revenue_kept, revenue_kept_low, revenue_kept_high : float
        Margin kept over the horizon (model), with its interval.
    unadjusted_revenue_kept, unadjusted_low, unadjusted_high : float
        The same from the raw churn-rate gap (no controls), with the Newcombe interval.
    currency : str
        Currency of the money figures.
    level : float
        Confidence level of the intervals.
    label : str
        Display name of the scenario's attribute.
    window_months : int or None
        Months the churned flag covers, when the spec states them.
    """

    churner_revenue: pd.DataFrame
    scenario: ValueScenario | None = None
    customers_at_stake: int = 0
    churners_avoided: float = float("nan")
    churners_avoided_low: float = float("nan")
    churners_avoided_high: float = float("nan")
    revenue_kept: float = float("nan")
    revenue_kept_low: float = float("nan")
    revenue_kept_high: float = float("nan")
    unadjusted_revenue_kept: float = float("nan")
    unadjusted_low: float = float("nan")
    unadjusted_high: float = float("nan")
    currency: str = ""
    level: float = 0.95
    label: str = ""
    window_months: int | None = None

    @property
    def total_churner_revenue_month(self) -> float:
        """Monthly revenue of every churner."""
        return float(self.churner_revenue.loc[self.churner_revenue["attribute"] == "all", "churner_revenue_month"].iloc[0])

    def scenario_table(self) -> pd.DataFrame:
        """The scenario's estimates as a small table (model and unadjusted)."""
        return pd.DataFrame(
            {
                "estimate": ["with controls (model)", "raw churn-rate gap"],
                "revenue_kept": [self.revenue_kept, self.unadjusted_revenue_kept],
                "ci_low": [self.revenue_kept_low, self.unadjusted_low],
                "ci_high": [self.revenue_kept_high, self.unadjusted_high],
            }
        )

    def sentences(self) -> list[str]:
        """The churners' revenue and the scenario in words."""
        cur = f" {self.currency}" if self.currency else ""
        total = self.total_churner_revenue_month
        window = f" in the {self.window_months} months the churn flag covers" if self.window_months else ""
        out = [f"Customers who left{window} brought {total:,.0f}{cur} of revenue a month."]
        s = self.scenario
        if s is not None and np.isfinite(self.revenue_kept):
            out.append(
                f"With controls: if the {self.customers_at_stake:,} customers with {self.label} '{s.from_level}' churned like "
                f"comparable customers with '{s.to_level}', about {self.churners_avoided:,.0f} fewer would leave{window} ({self.level:.0%} CI "
                f"{self.churners_avoided_low:,.0f} to {self.churners_avoided_high:,.0f}), keeping {self.revenue_kept:,.0f}{cur} "
                f"of margin over {s.horizon_months} months ({self.revenue_kept_low:,.0f} to {self.revenue_kept_high:,.0f}), "
                f"at an assumed {s.margin:.0%} margin."
            )
            out.append(
                f"The raw churn-rate gap, without controls, would say {self.unadjusted_revenue_kept:,.0f}{cur} "
                f"({self.unadjusted_low:,.0f} to {self.unadjusted_high:,.0f}); the difference is what the controls explain."
            )
            out.append(CAVEAT)
        return out


def churner_revenue(groups: CustomerGroups, spec: ChurnSpec) -> pd.DataFrame:
    """Monthly revenue of churners, in total and per attribute level (see :class:`ChurnValue`)."""
    g = groups.groups
    total = float(g["churner_revenue"].sum())
    rows = [{"attribute": "all", "label": "All customers", "level": "all", "customers": int(g["customers"].sum()),
             "churners": int(g["churners"].sum()), "churner_revenue_month": total}]
    for a in spec.attributes:
        by = g.groupby(a.column)[["customers", "churners", "churner_revenue"]].sum()
        for level in _levels(by.index.to_series(), a.reference):
            if level in by.index:
                r = by.loc[level]
                rows.append({"attribute": a.column, "label": a.name, "level": level, "customers": int(r["customers"]),
                             "churners": int(r["churners"]), "churner_revenue_month": float(r["churner_revenue"])})
    out = pd.DataFrame(rows)
    out["share"] = out["churner_revenue_month"] / total if total > 0 else np.nan
    small = out["customers"] < spec.min_group
    out[["churners", "churner_revenue_month", "share"]] = out[["churners", "churner_revenue_month", "share"]].astype(float)
    out.loc[small, ["churners", "churner_revenue_month", "share"]] = np.nan
    return out


def value_at_stake(groups: CustomerGroups, model: ChurnModel, spec: ChurnSpec) -> ChurnValue:
    """Churners' monthly revenue, and the margin kept if one group churned like another.

    The scenario (``spec.value``): customers at ``from_level`` get the churn probability the
    model gives them at ``to_level``, everything else as observed. Each avoided churner
    keeps their monthly revenue for ``horizon_months`` at the stated ``margin``:
    ``kept = margin * horizon * sum_i revenue_i * (p_i(from) - p_i(to))``, with a
    delta-method interval from the model's covariance. The unadjusted figure uses the raw
    churn-rate gap instead: ``margin * horizon * revenue(from) * (rate(from) - rate(to))``.

    Parameters
    ----------
    groups : CustomerGroups
        From :func:`customer_groups`.
    model : ChurnModel
        From :func:`fit_churn_model` on the same groups.
    spec : ChurnSpec
        The analysis spec.

    Returns
    -------
    ChurnValue
        Figures are NaN when the scenario's levels are not in the data or the model is
        not usable.
    """
    table = churner_revenue(groups, spec)
    level = 1 - spec.alpha
    s = spec.value
    if s is None:
        return ChurnValue(churner_revenue=table, currency=spec.currency, level=level, window_months=spec.churn_window_months)
    attr = spec.attribute(s.attribute)
    g = model.groups
    rows = (g[s.attribute] == s.from_level).to_numpy()
    to_rows = (g[s.attribute] == s.to_level).to_numpy()
    at_stake = int(g.loc[rows, "customers"].sum())
    base = ChurnValue(churner_revenue=table, scenario=s, customers_at_stake=at_stake, currency=spec.currency,
                      level=level, label=attr.name, window_months=spec.churn_window_months)
    usable = model.status == "ok" and rows.any() and to_rows.any()
    if not usable:
        return base
    factor = s.margin * s.horizon_months
    cust = g.loc[rows, "customers"].to_numpy(dtype=float)
    rev = g.loc[rows, "revenue"].to_numpy(dtype=float)
    d_churn, g_churn = model.change(s.attribute, s.to_level, rows=rows, weights=cust, reference=s.from_level)
    d_rev, g_rev = model.change(s.attribute, s.to_level, rows=rows, weights=rev, reference=s.from_level)
    _, c_lo, c_hi = model.delta_interval(-d_churn, -g_churn)
    _, r_lo, r_hi = model.delta_interval(-d_rev * factor, -g_rev * factor)
    n_from, n_to = at_stake, int(g.loc[to_rows, "customers"].sum())
    k_from, k_to = int(g.loc[rows, "churners"].sum()), int(g.loc[to_rows, "churners"].sum())
    gap = k_from / n_from - k_to / n_to
    gap_lo, gap_hi = confint_proportions_2indep(k_from, n_from, k_to, n_to, method="newcomb", compare="diff", alpha=spec.alpha)
    revenue_from = float(rev.sum()) * factor
    return ChurnValue(
        churner_revenue=table, scenario=s, customers_at_stake=at_stake,
        churners_avoided=-d_churn, churners_avoided_low=c_lo, churners_avoided_high=c_hi,
        revenue_kept=-d_rev * factor, revenue_kept_low=r_lo, revenue_kept_high=r_hi,
        unadjusted_revenue_kept=gap * revenue_from, unadjusted_low=float(gap_lo) * revenue_from,
        unadjusted_high=float(gap_hi) * revenue_from, currency=spec.currency, level=level, label=attr.name,
        window_months=spec.churn_window_months,
    )


# ---------------------------------------------------------------------------------------
# 5. Findings for results.json
# ---------------------------------------------------------------------------------------


def _pp_size(change: float) -> str:
    """The size of a change in probability in percentage points: one decimal, or two significant digits below 1 pp (never "0.0")."""
    size = abs(change) * 100
    return f"{size:.1f}" if size >= 1 else fmt.significant(size, 2)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def paragraphs(sentences: list[str]) -> Markdown:
    """Sentences as Markdown paragraphs, escaped (labels come from parameter files and data)."""
    return Markdown("\n\n".join(escape_md(s) for s in sentences))


def unavailable_table(spec: ChurnSpec) -> pd.DataFrame:
    """The metrics the data cannot support, with the missing field (from the spec)."""
    return pd.DataFrame([u.model_dump() for u in spec.unavailable], columns=["metric", "missing"])


def findings(
    rates: pd.DataFrame, model: ChurnModel, value: ChurnValue, *, dataset: str, section: Section = "churn"
) -> list[dict]:
    """The headline numbers as rows of the ``findings`` results section.

    Parameters
    ----------
    rates : DataFrame
        From :func:`churn_rates`.
    model : ChurnModel
        From :func:`fit_churn_model`.
    value : ChurnValue
        From :func:`value_at_stake`.
    dataset : str
        The dataset's folder name.
    section : str
        The results section (``churn`` by default).

    Returns
    -------
    list of dict
        Overall churn rate (%), churn rate of every unsuppressed level of each attribute
        (%), the average marginal effect of every level (pp, omitted when the model is not
        usable), the churners' monthly revenue and the scenario's margin kept. The
        headline rows come first (a pack's index shows the first few): the overall rate,
        the scenario's margin kept, its attribute's effect and rates, then the rest.
    """
    level = f"{value.level:.0%}"
    common = {"section": section, "dataset": dataset}
    rows: list[dict] = []
    for r in rates[~rates["suppressed"]].itertuples():
        overall = r.attribute == "all"
        who = "all customers" if overall else f"customers with {r.label} '{r.level}'"
        rows.append(finding(
            **common,
            metric="churn_rate" if overall else f"churn_rate_{_slug(r.attribute)}_{_slug(r.level)}",
            label=f"churn rate, {who}",
            estimate=r.rate * 100, ci_low=r.rate_low * 100, ci_high=r.rate_high * 100, unit="%", better="lower",
            n=int(r.customers),
            sentence=f"{r.rate:.1%} of {who} left ({level} CI {r.rate_low:.1%} to {r.rate_high:.1%}; "
            f"{int(r.customers):,} customers).",
        ))
    if model.status == "ok":
        for r in model.marginal_effects().itertuples():
            word = "less" if r.ame < 0 else "more"
            rows.append(finding(
                **common,
                metric=f"ame_{_slug(r.attribute)}_{_slug(r.level)}",
                label=f"churn difference, {r.label} '{r.level}' vs '{r.reference}', with controls",
                estimate=r.ame * 100, ci_low=r.ci_low * 100, ci_high=r.ci_high * 100, unit="pp", better=None,
                n=int(r.customers),
                sentence=f"Customers with {r.label} '{r.level}' are {_pp_size(r.ame)} percentage points {word} "
                f"likely to leave than comparable customers with '{r.reference}' ({level} CI {r.ci_low * 100:+.1f} "
                f"to {r.ci_high * 100:+.1f}); an association, not a proven cause.",
            ))
    cur = value.currency or "currency"
    total = value.total_churner_revenue_month
    rows.append(finding(
        **common,
        metric="churner_revenue_month", label="monthly revenue of customers who left",
        estimate=total, unit=cur, better="lower",
        n=int(rates.loc[rates["attribute"] == "all", "customers"].iloc[0]),
        sentence=f"Customers who left brought {total:,.0f} {cur} of revenue a month.",
    ))
    s = value.scenario
    if s is not None and np.isfinite(value.revenue_kept):
        rows.append(finding(
            **common,
            metric=f"margin_kept_{_slug(s.attribute)}_{_slug(s.from_level)}_to_{_slug(s.to_level)}",
            label=f"margin kept over {s.horizon_months} months if customers with {value.label} '{s.from_level}' "
            f"churned like those with '{s.to_level}'",
            estimate=value.revenue_kept, ci_low=value.revenue_kept_low, ci_high=value.revenue_kept_high,
            unit=cur, better="higher", n=value.customers_at_stake,
            sentence=f"If customers with {value.label} '{s.from_level}' left as rarely as comparable customers with "
            f"'{s.to_level}', about {fmt.rounded(value.revenue_kept)} {cur} of margin would be kept over {s.horizon_months} "
            f"months ({level} CI {fmt.rounded(value.revenue_kept_low)} to {fmt.rounded(value.revenue_kept_high)}; assumed margin "
            f"{s.margin:.0%}); an association, not a proven cause.",
        ))
    return sorted(rows, key=lambda row: _headline_rank(row["metric"], s))


def _headline_rank(metric: str, scenario: ValueScenario | None) -> int:
    """Order of a finding on the pack's index: overall rate, scenario value, its attribute, the rest."""
    if metric == "churn_rate":
        return 0
    if metric.startswith("margin_kept_"):
        return 1
    if scenario is not None:
        levels = [f"{_slug(scenario.attribute)}_{_slug(level)}" for level in (scenario.from_level, scenario.to_level)]
        if metric in [f"ame_{x}" for x in levels]:
            return 2
        if metric in [f"churn_rate_{x}" for x in levels]:
            return 3
    return 4


__all__ = [
    "CAVEAT",
    "ChurnAttribute",
    "ChurnControl",
    "ChurnModel",
    "ChurnSpec",
    "ChurnTable",
    "ChurnValue",
    "CustomerGroups",
    "Design",
    "Unavailable",
    "ValueScenario",
    "churn_rates",
    "churner_revenue",
    "customer_groups",
    "findings",
    "fit_churn_model",
    "load_spec",
    "paragraphs",
    "unavailable_table",
    "value_at_stake",
]

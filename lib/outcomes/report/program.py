"""The program of initiatives on the ROI page: initiatives that share customers, and the program holdout.

:func:`program` finds, on the warehouse, every pair of active randomized initiatives whose
assignments share customers (their interaction test) and, when ``params/value.yaml``
declares a ``program_holdout``, the holdout against every other customer
(:mod:`outcomes.experiment.program`). :meth:`Program.views` is what the page shows; it is
empty when no pair shares customers and no holdout is declared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from IPython.display import Markdown

from outcomes.experiment.program import HoldoutResult, PairOverlap, warehouse_holdout, warehouse_overlaps
from outcomes.periods import Month
from outcomes.report.investment import active_specs
from outcomes.report.review import load_spec
from outcomes.report.text import escape_md
from outcomes.value.model import load_value_model
from outcomes.warehouse import store


@dataclass(frozen=True)
class Program:
    """What the initiatives do together.

    Attributes
    ----------
    overlaps : tuple of PairOverlap
        Pairs of initiatives that share customers, with their interaction.
    holdout : HoldoutResult or None
        The program holdout's comparison, None when none is declared.
    """

    overlaps: tuple[PairOverlap, ...] = ()
    holdout: HoldoutResult | None = None

    def views(self) -> list[Markdown]:
        """The page's section: a heading and one sentence per pair and per holdout metric; none when there is nothing to show."""
        parts = []
        if self.overlaps:
            parts.append(
                "## Initiatives that share customers\n\nWhen two tests randomize the same customers, one's effect "
                "may depend on the other's arm: the interaction is the difference between an initiative's effect "
                "within the other's treatment and within its control."
            )
            parts.append("\n".join(f"- {escape_md(o.result.sentence())}" for o in self.overlaps))
        if self.holdout is not None:
            parts.append(
                f"## The program holdout\n\nCustomers kept out of every initiative "
                f"({escape_md(self.holdout.holdout.initiative)}) against every other customer on the books on "
                f"{escape_md(self.holdout.holdout.start_date)}: the effect of the whole program."
            )
            parts.append("\n".join(f"- {escape_md(s)}" for s in self.holdout.sentences()))
        return [Markdown("\n\n".join(parts))] if parts else []

    def overlap_records(self) -> list[dict[str, Any]]:
        """The ``overlaps`` rows of ``results.json`` (none when no pair shares customers)."""
        return [o.to_row() for o in self.overlaps]

    def holdout_records(self) -> list[dict[str, Any]]:
        """The ``program_holdout`` rows of ``results.json`` (none without a declared holdout)."""
        return [] if self.holdout is None else self.holdout.rows()


def program(
    period: str,
    *,
    value_model: str | Path | None = None,
    engine: str = "duckdb",
    warehouse_path: str | Path | None = None,
    engine_settings: str | Path | None = None,
    initiatives_dir: str | Path | None = None,
) -> Program:
    """Analyse the active initiatives together on the warehouse (what ``03_roi`` shows of them).

    Parameters
    ----------
    period : str
        The reported month, ``YYYY-MM``.
    value_model : str or Path, optional
        The value model file; its ``program_holdout`` names the holdout (default: the project's).
    engine, warehouse_path, engine_settings : optional
        The warehouse, as :func:`outcomes.report.investment.evaluate` opens it.
    initiatives_dir : str or Path, optional
        The initiative files; the active ones are paired (default: the project's).

    Returns
    -------
    Program
    """
    period = str(Month.parse(period))
    holdout = load_value_model(value_model).program_holdout
    con = store.connect(warehouse_path, engine=engine, spark_settings=engine_settings)  # type: ignore[arg-type]
    specs = [load_spec(path) for path in active_specs(initiatives_dir).values()]
    return Program(
        overlaps=warehouse_overlaps(con, specs, period),
        holdout=warehouse_holdout(con, holdout, period) if holdout is not None else None,
    )

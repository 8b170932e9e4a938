"""The rejects of a source counted by rule, and the guard on the share of its rows rejected.

A mapping that is wrong (a preset's value map replaced, a date format for another
locale) rejects most rows one by one; each reject is legitimate, yet loading the few
rows left would swap a full table for a sliver of it. So a source whose rejected share
of the rows checked exceeds its ``max_reject_share`` (default 5%) stops ingest
(:func:`breach`), and the error names the counts, the rules broken most with their
counts, one example row and what to do (:meth:`RejectShareBreach.message`).

Both functions read the temporary table ``_rej`` of the source being checked
(:func:`outcomes.ingest.checks.check_rows`); ``outcomes sources check`` shows the same
counts (:func:`rule_counts`).
"""

from __future__ import annotations

from dataclasses import dataclass

from outcomes import format as fmt
from outcomes.errors import IngestError
from outcomes.ingest.context import SourceContext

#: How many of the rules broken most the refusal names.
TOP_RULES = 3


@dataclass(frozen=True)
class RuleCount:
    """How many rows broke one rule.

    Parameters
    ----------
    rule : str
        The rule (``allowed_values``, ``not_null``...).
    columns : tuple of str
        The columns it was broken on.
    rows : int
        Rows that broke it (a row breaking it on two columns counts once).
    """

    rule: str
    columns: tuple[str, ...]
    rows: int


@dataclass(frozen=True)
class RejectExample:
    """One reject line: where it is, what it holds and which rule it broke.

    Parameters
    ----------
    file : str
        The export file's name.
    row : int
        The 1-based data row in the file.
    column, value, rule, message : str
        As in ``_rejects``.
    """

    file: str
    row: int
    column: str
    value: str | None
    rule: str
    message: str


@dataclass(frozen=True)
class RejectShareBreach:
    """A source rejected a larger share of its rows than it allows.

    Parameters
    ----------
    source : str
        Source name in the sources file.
    rows : int
        Rows checked (read, less the older versions ``dedupe`` dropped).
    rejected : int
        Rows rejected.
    limit : float
        The source's ``max_reject_share``.
    rules : tuple of RuleCount
        The rules broken most, most rows first (at most :data:`TOP_RULES`).
    example : RejectExample
        The first reject of the rule broken most.
    """

    source: str
    rows: int
    rejected: int
    limit: float
    rules: tuple[RuleCount, ...]
    example: RejectExample

    @property
    def share(self) -> float:
        """The share of the rows checked that were rejected."""
        return self.rejected / self.rows

    def message(self, cfg_label: str, rejects_file: str) -> str:
        """The refusal, as the user reads it: counts, rules, one example and what to do."""
        where = f"sources.{self.source}"
        rules = "; ".join(f"{r.rule} on {', '.join(r.columns)}: {_rows(r.rows)}" for r in self.rules)
        e = self.example
        value = "empty" if e.value is None else f"'{e.value}'"
        return (
            f"source '{self.source}' of {cfg_label} rejected {fmt.count(self.rejected)} of {_rows(self.rows)} "
            f"({fmt.percent(self.share)}), more than its max_reject_share of {fmt.percent(self.limit, exact_digits=True)}; "
            f"rules broken most: {rules}; for example {e.file} row {e.row}, column {e.column}, value {value}, "
            f"rule {e.rule}: {e.message}. All its rejects are in {rejects_file}. So large a share means the mapping "
            f"is wrong rather than a few rows bad: fix the mapping under {where} (run `outcomes sources check "
            f"--sources {cfg_label} --source {self.source}` to see rows as they are mapped), or, when these rows "
            f"are genuinely unusable, raise {where}.max_reject_share"
        )


def _rows(n: int) -> str:
    """``n`` rows, in words: "1 row", "1,204 rows"."""
    return f"{fmt.count(n)} row{'' if n == 1 else 's'}"


def rule_counts(ctx: SourceContext) -> list[RuleCount]:
    """The rules the source's rows broke, with the rows that broke each, most rows first."""
    rows = ctx.con.execute(
        "SELECT rule, list(DISTINCT col ORDER BY col), count(DISTINCT (_fidx, _row)) AS n FROM _rej "
        "GROUP BY rule ORDER BY n DESC, rule"
    ).fetchall()
    return [RuleCount(rule=rule, columns=tuple(cols), rows=n) for rule, cols, n in rows]


def _example(ctx: SourceContext, rule: str) -> RejectExample:
    """The first reject line, in file order, of ``rule``."""
    row = ctx.con.execute(
        "SELECT k._file, r._row, r.col, r.value, r.rule, r.message FROM _rej r "
        "JOIN _files k USING (_fidx) WHERE r.rule = ? "
        "ORDER BY r._fidx, r._row, r._ord LIMIT 1",
        [rule],
    ).fetchone()
    return RejectExample(*row)


def over_limit(rows: int, rejected: int, limit: float) -> bool:
    """Whether ``rejected`` of ``rows`` is a larger share than ``limit`` (a share equal to it is allowed)."""
    return rows > 0 and rejected / rows > limit


def breach(ctx: SourceContext, rows: int, rejected: int) -> RejectShareBreach | None:
    """The source's breach of its ``max_reject_share``, or None when it rejected no more than that.

    Parameters
    ----------
    ctx : SourceContext
        The source; its reject lines are in ``_rej``.
    rows : int
        Rows checked (read, less the older versions ``dedupe`` dropped).
    rejected : int
        Rows rejected.
    """
    limit = ctx.source.max_reject_share
    if not over_limit(rows, rejected, limit):
        return None
    counts = rule_counts(ctx)
    return RejectShareBreach(
        source=ctx.name,
        rows=rows,
        rejected=rejected,
        limit=limit,
        rules=tuple(counts[:TOP_RULES]),
        example=_example(ctx, counts[0].rule),
    )


def refusal(breaches: list[RejectShareBreach], cfg_label: str, rejects_dir: str) -> IngestError:
    """The one error that stops ingest when sources rejected too large a share of their rows.

    Parameters
    ----------
    breaches : list of RejectShareBreach
        One per source over its limit, in the order of the sources file.
    cfg_label : str
        The sources file, as messages name it.
    rejects_dir : str
        The rejects folder, as messages name it (each source's rejects are in
        ``<rejects_dir>/<source>.csv``).
    """
    first = breaches[0]
    return IngestError(
        "\n".join(b.message(cfg_label, f"{rejects_dir}/{b.source}.csv") for b in breaches),
        file=cfg_label,
        column=first.example.column,
        expected=f"at most {fmt.percent(first.limit, exact_digits=True)} of the rows of source '{first.source}' rejected",
        found=f"{first.rejected} of {first.rows} rows rejected",
        fix=f"fix the mapping under sources.{first.source}, or raise sources.{first.source}.max_reject_share",
    )


__all__ = ["TOP_RULES", "RejectExample", "RejectShareBreach", "RuleCount", "breach", "over_limit", "refusal", "rule_counts"]

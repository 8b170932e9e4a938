"""The reject rules of the ingest: one registry of every rule code a reject line can carry.

Each line of ``_rejects`` (and of ``data/rejects/<source>.csv``) names the rule its row
broke. The codes and their sentences live here only: the checks write a code through
:func:`rule` (an unknown code fails at once), and ``outcomes docs`` lists them in
``docs/data-model.md`` from :data:`REJECT_RULES`. Row rules of the data model
(``resolved_at >= opened_at``...) are rule codes too; they are declared with their table
in :mod:`outcomes.warehouse.datamodel` and listed there.
"""

from __future__ import annotations

from dataclasses import dataclass

from outcomes.warehouse.datamodel import TABLES


@dataclass(frozen=True)
class RejectRule:
    """A rule of the ingest and what it means.

    Parameters
    ----------
    code : str
        The identifier written to the ``rule`` column of ``_rejects``.
    sentence : str
        One sentence: what the row broke and what to do.
    """

    code: str
    sentence: str


#: How a value of each parsed type should look, in words (reject messages and their rules).
TYPE_WORDS = {"int": "a whole number", "float": "a number", "bool": "a boolean (true/false, yes/no, 1/0)",
               "date": "a date", "timestamp": "a timestamp", "month": "a month"}

#: Code -> rule, in the order the checks run on a row.
REJECT_RULES: dict[str, RejectRule] = {
    r.code: r
    for r in (
        *(
            RejectRule(f"unparseable_{t}", f"A value of a column of type {t} is not {words} in the form the source declares; "
                       "correct it in the export, or declare its format (dates) or map it (values).")
            for t, words in TYPE_WORDS.items()
        ),
        RejectRule("two_digit_year", "A date has a two-digit year, which could be any century; set the source's "
                   "year_pivot, or export four-digit years."),
        RejectRule("not_null", "A required or key column is empty; fill it in the export, or map another column "
                   "or a constant to it."),
        RejectRule("allowed_values", "A value is not one of the column's allowed values (after value maps); add a "
                   "value map under the source's values."),
        RejectRule("min", "A number is below the column's minimum; correct the value in the export."),
        RejectRule("max", "A number is above the column's maximum; correct the value in the export."),
        RejectRule("before_earliest", "A date is before the earliest plausible date; correct it, or set the "
                   "source's earliest if older dates are real."),
        RejectRule("after_export_date", "A date is after the date the export was written plus the column's "
                   "allowed days; correct it, or set the source's future_days if later dates are real."),
        RejectRule("derive_input", "A cell a derive expression reads is not of the type of its column's other "
                   "values; correct the value in the export."),
        RejectRule("derive_error", "A derive expression raises an error on the row; correct the row in the export."),
        RejectRule("duplicate_key", "Another row has the same key; the first row in file order (or the row "
                   "already in the warehouse) is kept, the later one is rejected."),
    )
}

#: Names of the row rules of the data model (``resolved_at >= opened_at``...), also written as rule codes.
ROW_RULES: frozenset[str] = frozenset(r.name for t in TABLES.values() for r in t.rules)


def rule(code: str) -> str:
    """The code of a registered rule, for a reject line.

    Parameters
    ----------
    code : str
        A key of :data:`REJECT_RULES` or a row rule of the data model (:data:`ROW_RULES`).

    Returns
    -------
    str
        ``code``.

    Raises
    ------
    KeyError
        For a code that is not registered (a programming error: register it here first,
        with its sentence, so that the documentation lists it).
    """
    if code not in REJECT_RULES and code not in ROW_RULES:
        raise KeyError(f"reject rule {code!r} is not registered in outcomes.ingest.rules.REJECT_RULES")
    return code


def unparseable(type_name: str) -> str:
    """The code of a value that does not parse into ``type_name`` (``unparseable_date``...)."""
    return rule(f"unparseable_{type_name}")

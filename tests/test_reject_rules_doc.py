"""The reject rules: one registry in the ingest package, every code the checks write, all of them documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from outcomes import ingest
from outcomes.ingest.rules import REJECT_RULES, ROW_RULES, TYPE_WORDS, rule, unparseable
from outcomes.run import docs as docs_gen
from outcomes.warehouse.datamodel import LogicalType

INGEST = Path(ingest.__file__).resolve().parent
_CALL = re.compile(r"""\brule\(\s*["']([a-z_]+)["']\s*\)""")


def _sources() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in INGEST.rglob("*.py") if p.name != "rules.py"}


def codes_in_code() -> set[str]:
    """Every rule code the ingest writes: ``rule("...")`` calls, and ``unparseable(<type>)`` for every parsed type."""
    found = {code for text in _sources().values() for code in _CALL.findall(text)}
    if any("unparseable(col.type)" in text for text in _sources().values()):
        found |= {f"unparseable_{t}" for t in get_args(LogicalType) if t != "string"}
    return found


def test_the_registry_holds_exactly_the_codes_the_checks_write() -> None:
    assert codes_in_code() == set(REJECT_RULES)
    assert {"two_digit_year", "before_earliest", "after_export_date", "derive_input", "derive_error",
            "not_null", "allowed_values", "min", "max", "duplicate_key", "unparseable_date"} <= set(REJECT_RULES)
    assert set(TYPE_WORDS) == set(get_args(LogicalType)) - {"string"}


def test_no_rule_code_is_written_around_the_registry() -> None:
    # the modules that fill the rule column of reject lines ("min"/"max" are also aggregations elsewhere)
    writers = {name: text for name, text in _sources().items() if "AS rule" in text or "_bad_rule" in text}
    assert set(writers) == {"checks.py", "mapping.py"}
    for name, text in writers.items():
        rest = _CALL.sub("", text)
        for code in REJECT_RULES:
            # as an SQL literal or a Python string passed on as a rule: only rule("...") may name it
            assert not re.search(rf"""(?:'{code}'|"'{code}'"|, "{code}",)""", rest), f"{name} writes {code!r} without rule()"


def test_the_data_model_page_lists_every_rule_with_its_sentence_and_the_invariants() -> None:
    page = docs_gen.render_data_model()
    listed = set(re.findall(r"^- `([a-z_]+)`: ", page.split("## Reject rules", 1)[1].split("## ", 1)[0], re.M))
    assert listed == codes_in_code()
    for r in REJECT_RULES.values():
        assert f"- `{r.code}`: {r.sentence}" in page
    for name in ROW_RULES:
        assert f"`{name}`" in page
    invariants = page.split("## Ingest invariants", 1)[1].split("## ", 1)[0]
    for words in ("rows loaded + rows rejected", "naming the rule", "byte-identical", "killed", "future-dated row"):
        assert words in invariants


def test_an_unregistered_code_fails_at_once() -> None:
    with pytest.raises(KeyError, match="not registered"):
        rule("looks_wrong")
    assert unparseable("date") == "unparseable_date"

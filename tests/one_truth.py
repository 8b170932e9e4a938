"""Every figure, name and recommendation a published month shows on more than one page, side by side.

:func:`extract` reads a month folder as a reader would (each page's text and tables,
and ``results.json``) and :func:`disagreements` lists each quantity whose values differ
between pages or from ``results.json``: an initiative's name, its recommendation, its
primary effect with the interval its decision rests on, its NPV P50, P10 and P90, its value
per month, and the value of a customer kept. Numbers are compared at the precision a page shows them
(``EUR 7.4m`` stands for 7.35m to 7.45m), so two formats of one figure agree and two
figures do not.

Run it on a month folder to list the disagreements::

    python tests/one_truth.py reports/2025-12
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from outcomes import config
from outcomes.experiment.decision import decision_interval
from outcomes.report.investment import register_names
from outcomes.run import workbook
from outcomes.value.model import load_value_model
from outcomes.value.recommendation import from_results

#: A shown number: sign, digits, decimals, and a unit or scale after it.
_NUMBER = re.compile(r"([+-]?)(?:EUR\s*)?([0-9][0-9,]*(?:\.[0-9]+)?)\s*(k|m|bn|pp|%|hours?|minutes?|days?)?\b")
_SCALE = {"k": 1e3, "m": 1e6, "bn": 1e9, "pp": 0.01, "%": 0.01, "hour": 1.0, "hours": 1.0,
          "minute": 1 / 60, "minutes": 1 / 60, "day": 24.0, "days": 24.0}


@dataclass(frozen=True)
class Shown:
    """A number as a page shows it: its value in base units (EUR, hours, fractions) and half its last digit."""

    value: float
    half_unit: float
    text: str

    def agrees(self, exact: float) -> bool:
        """Whether ``exact`` rounds to what is shown."""
        return abs(self.value - exact) <= self.half_unit * 1.0001 + 1e-12


def numbers(text: str, default_unit: str | None = None) -> list[Shown]:
    """Every number in ``text``; a number without a unit takes the next number's unit ("+4.4 to +8.7 pp")."""
    found = []
    for m in _NUMBER.finditer(text.replace("\u2212", "-")):
        sign, digits, unit = m.group(1), m.group(2), m.group(3)
        before = text[max(0, m.start() - 4) : m.start()]
        negative = sign == "-" or before.rstrip().endswith("-EUR") or before.endswith("-")
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        found.append([(-1 if negative else 1) * float(digits.replace(",", "")), decimals, unit, m.group(0)])
    for i in range(len(found) - 1, -1, -1):  # a bare number takes the unit written after the next one
        if found[i][2] is None:
            found[i][2] = found[i + 1][2] if i + 1 < len(found) else default_unit
    out = []
    for value, decimals, unit, raw in found:
        scale = _SCALE.get(unit or "", 1.0)
        out.append(Shown(value * scale, 0.5 * 10 ** (-decimals) * scale, raw.strip()))
    return out


class _Page(HTMLParser):
    """A page's text, headings, bold phrases and tables (rows of cell texts)."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.headings: list[str] = []
        self.strong: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._skip = 0
        self._heading: list[str] | None = None
        self._strong: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("h1", "h2", "h3"):
            self._heading = []
        elif tag == "strong":
            self._strong = []
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1
        elif tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append("".join(self._heading).replace("¶", "").strip())
            self._heading = None
        elif tag == "strong" and self._strong is not None:
            self.strong.append("".join(self._strong).strip())
            self._strong = None
        elif tag in ("td", "th") and self._cell is not None and self.tables and self.tables[-1]:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text.append(data)
        for part in (self._heading, self._strong, self._cell):
            if part is not None:
                part.append(data)


def read_page(path: Path) -> _Page:
    """Parse one published page."""
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _table(page: _Page, first_header: str, *headers: str) -> list[dict[str, str]]:
    """The rows of the first table whose header row starts with ``first_header`` and holds ``headers``."""
    for t in page.tables:
        rows = [r for r in t if r]
        if rows and rows[0] and rows[0][0] == first_header and all(h in rows[0] for h in headers):
            return [dict(zip(rows[0], r, strict=False)) for r in rows[1:]]
    return []


@dataclass
class Seen:
    """Every place a quantity is shown: (where, what it shows)."""

    places: list[tuple[str, Any]] = field(default_factory=list)

    def add(self, where: str, value: Any) -> None:
        self.places.append((where, value))


def extract(month: Path) -> dict[str, Seen]:
    """Every shown value of the compared quantities, keyed ``<initiative>/<quantity>``.

    Parameters
    ----------
    month : Path
        A published month folder (``reports/<YYYY-MM>``).

    Returns
    -------
    dict of str to Seen
        Names and recommendations as strings; numbers as :class:`Shown` (pages) or
        floats (``results.json``).
    """
    results = json.loads((month / "results.json").read_text(encoding="utf-8"))
    seen: dict[str, Seen] = {}
    def add(key: str, where: str, value: object) -> None:
        seen.setdefault(key, Seen()).add(where, value)

    roi = {r["initiative"]: r for r in results["roi"]}
    entries = {e["id"]: e for e in results["initiatives"]}
    register = {}
    for key, r in roi.items():
        register[key] = r.get("name", key)
        add(f"{key}/name", "results.json roi", r.get("name", key))
        add(f"{key}/recommendation", "results.json roi", r.get("recommendation"))
        for q in ("npv_p50", "npv_p10", "npv_p90"):
            add(f"{key}/{q}", "results.json roi", r[q])
        if r.get("value_per_customer_kept") is not None:
            add("value_per_customer_kept", f"results.json roi {key}", r["value_per_customer_kept"])
    for key, e in entries.items():
        primary = next(m for m in e["metrics"] if m["role"] == "primary")
        low, high, _ = decision_interval(primary["ci_low"], primary["ci_high"], primary["seq_ci_low"], primary["seq_ci_high"])
        add(f"{key}/effect", "results.json initiatives", primary["estimate_abs"])
        add(f"{key}/interval", "results.json initiatives", (low, high))
        if key in roi:
            rec = from_results(key, e["decision"], results["roi"]).text
            add(f"{key}/recommendation", "results.json initiatives decision with roi chance", rec)
    # a page may name an initiative by any name the project knows it by: the register's, the
    # value model's or its id; each is traced back to the id, so its figures are compared
    stated = load_value_model(config.project().params_dir / "value.yaml").initiatives
    by_name = {
        **{ini.name: k for k, ini in stated.items()},
        **{v: k for k, v in register_names().items()},
        **{v: k for k, v in register.items()},
    }

    for path in sorted(month.glob("02_initiative_review--*.html")):
        key = path.stem.split("--", 1)[1]
        page = read_page(path)
        where = path.name
        head = next(h for h in page.headings if h.startswith("Decision:"))
        add(f"{key}/name", where, head.removeprefix("Decision:").strip())
        add(f"{key}/recommendation", where, re.sub(r" \(\w+ arm\)$", "", page.strong[0].rstrip(".")).lower())
        text = "".join(page.text)
        clause = re.search(r"\(([+-][^,]*), 95% (?:anytime-valid )?CI ([^)]*)\)", text)
        if clause:
            add(f"{key}/effect", f"{where} decision", numbers(clause.group(1))[0])
            add(f"{key}/interval", f"{where} decision", tuple(numbers(clause.group(2))[:2]))

    summary = read_page(month / "00_executive_summary.html")
    where = "00_executive_summary.html"
    for row in _table(summary, "Initiative", "Decision", "Effect"):
        key = by_name.get(row["Initiative"], row["Initiative"])
        add(f"{key}/name", f"{where} decisions", row["Initiative"])
        add(f"{key}/recommendation", f"{where} decisions", row["Decision"])
        add(f"{key}/effect", f"{where} decisions", numbers(row["Effect"])[0])
        add(f"{key}/interval", f"{where} decisions", tuple(numbers(row["95% interval"])[:2]))
    for row in _table(summary, "Initiative", "NPV (P50)", "ROI (P50)"):
        key = by_name.get(row["Initiative"], row["Initiative"])
        if key == "All initiatives together":
            continue
        add(f"{key}/name", f"{where} worth", row["Initiative"])
        add(f"{key}/npv_p50", f"{where} worth", numbers(row["NPV (P50)"])[0])
        p10, p90 = numbers(row["NPV P10 to P90"])[:2]
        add(f"{key}/npv_p10", f"{where} worth", p10)
        add(f"{key}/npv_p90", f"{where} worth", p90)
    lines = "".join(summary.text).splitlines()
    def headline(head: str) -> str:
        return next((line for line in lines if line.startswith(head)), "")

    recommend, it, worth = headline("We recommend:"), headline("IT delivered:"), headline("What it is worth")
    for key, e in entries.items():
        name = register.get(key, key)
        if key in roi:
            rec = from_results(key, e["decision"], results["roi"])
            add(f"{key}/recommendation", f"{where} headline", rec.text if rec.clause(name) in recommend else recommend)
        said = re.search(re.escape(name) + r": [^(;]*? ([+-][^ ]+ [a-z]+) \(95% interval ([^)]*)\)", it)
        if said:
            add(f"{key}/effect", f"{where} headline", numbers(said.group(1))[0])
            add(f"{key}/interval", f"{where} headline", tuple(numbers(said.group(2))[:2]))
        else:
            add(f"{key}/effect", f"{where} headline", it)
    largest = re.search(r"the largest, (.+?): NPV (\S+ \S+) \(P10 (\S+ \S+) to P90 (\S+ \S+)\)", worth)
    if largest:
        key = by_name.get(largest.group(1), largest.group(1))
        for q, text in zip(("npv_p50", "npv_p10", "npv_p90"), largest.groups()[1:], strict=True):
            add(f"{key}/{q}", f"{where} headline", numbers(text)[0])

    page = read_page(month / "03_roi.html")
    where = "03_roi.html"
    for row in _table(page, "Initiative", "Investment (PV)", "Decision"):
        key = by_name.get(row["Initiative"], row["Initiative"])
        if key == "All initiatives together":
            continue
        add(f"{key}/name", f"{where} portfolio", row["Initiative"])
        add(f"{key}/recommendation", f"{where} portfolio", row["Decision"])
        add(f"{key}/npv_p50", f"{where} portfolio", numbers(row["NPV (P50)"])[0])
        p10, p90 = numbers(row["NPV P10 to P90"])[:2]
        add(f"{key}/npv_p10", f"{where} portfolio", p10)
        add(f"{key}/npv_p90", f"{where} portfolio", p90)
    sections = [h for h in page.headings if h not in ("The inputs", "The link from IT to customers", "The portfolio",
                                                      "Caveats", "Each initiative: from the IT change to money",
                                                      "Not shown this month")][1:]
    cases = [t for t in page.tables if t and t[0][:2] == ["measure", "value"]]
    teis = [t for t in page.tables if t and t[0][:1] == ["line"]]
    evidence = [t for t in page.tables if t and t[0][:2] == ["step", "what"]]
    for heading, case, tei, steps in zip(sections, cases, teis, evidence, strict=False):
        key = by_name.get(heading, heading)
        add(f"{key}/name", f"{where} section", heading)
        rows = {r[0]: r[1] for r in case[1:] if len(r) == 2}
        for r in steps[1:]:
            if r and r[0] == "Value per month":
                add(f"{key}/value_per_month", f"{where} evidence", numbers(r[2])[0])
        if "Value per month (P50)" in rows:
            add(f"{key}/value_per_month", f"{where} case", numbers(rows["Value per month (P50)"])[0])
        add(f"{key}/npv_p50", f"{where} case", numbers(rows["NPV P50"])[0])
        p10, p90 = numbers(rows["NPV P10 to P90"])[:2]
        add(f"{key}/npv_p10", f"{where} case", p10)
        add(f"{key}/npv_p90", f"{where} case", p90)
        net = next((r for r in tei if r and r[0] == "Net benefits"), None)
        if net and net[-1]:  # the TEI table's present value of net benefits is an NPV too
            add(f"{key}/npv_p50", f"{where} TEI table", numbers(net[-1])[0])
    for line in "".join(page.text).splitlines():
        kept = re.search(r"customers kept per month x (-?EUR [0-9.,]+[km]?)", line)
        if kept:
            add("value_per_customer_kept", f"{where} value chain", numbers(kept.group(1))[0])

    card = read_page(month / "01_joint_scorecard.html")
    for line in "".join(card.text).splitlines():
        stake = re.search(r"About ([0-9,]+) customers a month at stake, worth about EUR ([0-9,.]+)([km]?)\b", line)
        if stake:
            customers = float(stake.group(1).replace(",", ""))
            shown = stake.group(2).replace(",", "")
            scale = {"": 1.0, "k": 1e3, "m": 1e6}[stake.group(3)]
            eur = float(shown) * scale
            step = scale * 10.0 ** -(len(shown.split(".")[1]) if "." in shown else 0)
            # customers are rounded to a whole number and the money to its last digit shown:
            # the value per customer is known to within both roundings
            tolerance = eur / customers * 0.5 / customers + step / 2 / customers + 0.5
            add("value_per_customer_kept", "01_joint_scorecard.html prescriptions",
                Shown(eur / customers, tolerance, line.strip()[:80]))
    return seen


def _agree(a: Any, b: Any) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_agree(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Shown) and isinstance(b, Shown):
        return abs(a.value - b.value) <= a.half_unit + b.half_unit + 1e-12
    if isinstance(a, Shown) and isinstance(b, (int, float)):
        return a.agrees(float(b))
    if isinstance(b, Shown) and isinstance(a, (int, float)):
        return b.agrees(float(a))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9)
    return a == b


def disagreements(seen: dict[str, Seen]) -> list[str]:
    """One line per quantity shown with values that cannot be the same figure, listing every place."""
    out = []
    for key, s in sorted(seen.items()):
        values = [v for _, v in s.places]
        if any(not _agree(a, b) for i, a in enumerate(values) for b in values[i + 1 :]):
            out.append(f"{key}: " + "; ".join(f"{w}: {_text(v)}" for w, v in s.places))
    return out


def _text(value: Any) -> str:
    if isinstance(value, tuple):
        return " to ".join(_text(v) for v in value)
    if isinstance(value, Shown):
        return value.text
    return repr(value)


if __name__ == "__main__":
    found = disagreements(extract(Path(sys.argv[1])))
    print("\n".join(found) if found else "every figure, name and recommendation agrees")
    sys.exit(1 if found else 0)


def assert_round_trip(doc: dict, path: Path) -> int:
    """Check every cell of every sheet against the results document; return the cells checked."""
    book = load_workbook(path)
    checked = 0
    for title, (columns, rows) in workbook.sheets(doc).items():
        sheet = book[title]
        assert [c.value for c in sheet[1]] == [c.header for c in columns]
        assert sheet.max_row == len(rows) + 1, title
        for r, row in enumerate(rows, start=2):
            for c, column in enumerate(columns, start=1):
                cell, expected = sheet.cell(r, c), column.value(row)
                if isinstance(expected, float) and not math.isfinite(expected):
                    expected = None
                if isinstance(expected, (int, float)) and not isinstance(expected, bool):
                    assert isinstance(cell.value, (int, float)), (title, column.header, cell.value)
                    assert cell.value == pytest.approx(expected, rel=1e-12), (title, column.header)
                else:
                    assert cell.value == (None if expected in (None, "") else expected), (title, column.header)
                checked += 1
    return checked

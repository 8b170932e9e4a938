"""The final personal-data scan of a report pack, or of one analysis, before it is published.

Reports carry aggregates only, and the metrics code suppresses small segments. This scan
is the last line of defence: every word sequence of every page and notebook is looked
up against a deny-list: the values of every column the data model marks ``pii``
(:data:`PII_COLUMNS`: customer, requester, employee and unit ids, names, e-mails), read
from the warehouse, plus the configured columns, data files and deny-list file. The lookup
runs inside the engine as a semi-join, so personal data never has to be loaded into
Python: only the phrases of the report are sent to the warehouse.

**The matching rule.** Text is cut into tokens: runs of letters, digits and ``. @ + ' -``
(dots, dashes and apostrophes at a token's ends are dropped). A deny-listed value matches
when it equals a token, or a run of up to :data:`MAX_WORDS` tokens, case-insensitively:
``anna.berg@example.com`` is found in ``mailto:anna.berg@example.com``, ``Anna Berg`` in
``Customer Anna Berg churned`` and ``C001`` in ``customer C001 left``, but ``C001`` is
not found in ``C0012`` or ``ABC001`` (not a whole token). A value is looked for when it
has at least ``min_length`` characters (default 5), or at least :data:`ID_MIN_LENGTH`
characters mixing letters and digits (an id such as ``C001``: such a token is no ordinary
word). Shorter values, and short values of digits only, are not looked for: they would
match counts and years.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outcomes import config
from outcomes.run.config import PIIScan
from outcomes.warehouse.datamodel import TABLES
from outcomes.warehouse.sql import literal, quote

#: Longest phrase, in words, looked up (names rarely have more words).
MAX_WORDS = 4
#: Shortest value looked for when it mixes letters and digits (an id such as ``C001``).
ID_MIN_LENGTH = 3
#: ``table.column`` of every column the data model marks as personal data.
PII_COLUMNS: tuple[str, ...] = tuple(f"{t.name}.{c.name}" for t in TABLES.values() for c in t.columns if c.pii)

_TOKEN = re.compile(r"[\w.@+'-]+", re.UNICODE)
_DATA_URI = re.compile(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)")


@dataclass(frozen=True)
class PIIHit:
    """Personal data found in a report file (the value itself is not kept)."""

    file: str
    source: str
    count: int

    def summary(self) -> str:
        """One line naming the file and where the deny-listed value came from."""
        return f"{self.file}: {self.count} value(s) from {self.source}"


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def file_text(path: Path, *, skip: str = "") -> str:
    """The text of a page or notebook as a reader could see it.

    HTML entities are decoded, inline SVG images are decoded, JSON strings of notebooks
    are unescaped; ``skip`` (the Vega bundle) is removed first.
    """
    raw = path.read_text(encoding="utf-8")
    if skip:
        raw = raw.replace(skip, " ")
    if path.suffix in {".ipynb", ".json"}:
        return "\n".join(_strings(json.loads(raw)))
    images = [base64.b64decode(m).decode("utf-8", "replace") for m in _DATA_URI.findall(raw)]
    return html.unescape("\n".join([raw, *images]))


def phrases(text: str, max_words: int = MAX_WORDS) -> set[str]:
    """Every run of 1 to ``max_words`` consecutive words of ``text``, lower-cased.

    Words are runs of letters, digits and ``. @ + ' -``; trailing dots and dashes are
    dropped so that a sentence's last word matches.
    """
    words = [w for w in (w.strip(".-'").lower() for w in _TOKEN.findall(text)) if w]
    out: set[str] = set(words)
    for n in range(2, max_words + 1):
        out.update(map(" ".join, zip(*(words[k:] for k in range(n)))))
    return out


def _normalised(value: str) -> str:
    return " ".join(w.strip(".-'").lower() for w in _TOKEN.findall(value))


#: The characters RE2's ``\\s`` matches: what :func:`_normalised_sql` collapses.
_WHITESPACE = (" ", "\t", "\n", "\f", "\r")


def _normalised_sql(value: str) -> str:
    """SQL normalising a warehouse value: lower-cased, each run of white space one space, none at the ends.

    A value without white space (an id, an e-mail) is only lower-cased, which is what the
    regular expression and the trim would leave of it: they run on the other values alone.
    """
    spaced = " OR ".join(f"contains({value}, chr({ord(c)}))" for c in _WHITESPACE)
    return f"CASE WHEN {spaced} THEN trim(regexp_replace(lower({value}), '\\s+', ' ', 'g')) ELSE lower({value}) END"


def _is_id(value: str) -> bool:
    """Whether a value mixes letters and digits (an id such as ``c001``)."""
    return any(ch.isdigit() for ch in value) and any(ch.isalpha() for ch in value)


def scan(
    files: Iterable[Path],
    *,
    warehouse: Path | None,
    columns: Iterable[str],
    deny_file: Path | None,
    min_length: int,
    skip: str = "",
    data_files: Iterable[tuple[Path, Iterable[str]]] = (),
) -> list[PIIHit]:
    """Look for deny-listed strings in report files.

    Parameters
    ----------
    files : iterable of Path
        The pages and notebooks about to be published.
    warehouse : Path, optional
        The DuckDB warehouse; columns are looked up there when it exists.
    columns : iterable of str
        ``table.column`` names holding personal data, scanned with :data:`PII_COLUMNS`
        (always); missing tables or columns are skipped.
    deny_file : Path, optional
        More strings, one per line.
    min_length : int
        Shorter deny-listed strings are ignored, unless they mix letters and digits and
        have at least :data:`ID_MIN_LENGTH` characters (see the module's matching rule).
    skip : str
        Text removed from pages before scanning (the Vega bundle, identical on every page).
    data_files : iterable of (Path, columns)
        CSV files (optionally gzipped) and their columns holding personal data, read
        directly; missing files are skipped.

    Returns
    -------
    list of PIIHit
        One entry per file and source with at least one match.
    """
    import duckdb
    import pyarrow as pa

    extra = []
    if deny_file is not None and deny_file.is_file():
        extra = [_normalised(s) for s in deny_file.read_text(encoding="utf-8").splitlines()]
        extra = [s for s in extra if len(s) >= min_length or (len(s) >= ID_MIN_LENGTH and _is_id(s))]
    columns = list(dict.fromkeys([*PII_COLUMNS, *columns]))
    files = list(files)
    hits: list[PIIHit] = []
    con = duckdb.connect()
    try:
        sources: list[tuple[str, str]] = []
        if warehouse is not None and warehouse.is_file():
            con.execute(f"ATTACH {literal(warehouse.as_posix())} AS wh (READ_ONLY)")
            present = {
                (t, c)
                for t, c in con.execute(
                    "SELECT table_name, column_name FROM information_schema.columns WHERE table_catalog = 'wh'"
                ).fetchall()
            }
            for spec in columns:
                table, column = spec.split(".", 1)
                if (table, column) in present:
                    # no DISTINCT: the column's values probe the report's phrases (a small hash
                    # table) as they stream by, where a DISTINCT would hash every one of them
                    raw = f"CAST({quote(column)} AS VARCHAR)"
                    sources.append((spec, f"SELECT {_normalised_sql(raw)} AS v FROM wh.{quote(table)}"))
        for data_file, names in data_files:
            if not data_file.is_file():
                continue
            for column in names:
                # read each file's column once, not once per scanned page
                name = f"pii_file_{len(sources)}"
                con.execute(
                    f"CREATE TEMP TABLE {name} AS SELECT DISTINCT regexp_replace(lower(trim({quote(column)})), '\\s+', ' ', 'g') "
                    f"AS v FROM read_csv({literal(data_file.as_posix())}, all_varchar = true)"
                )
                sources.append((f"{data_file.name}:{column}", f"SELECT v FROM {name}"))
        if extra:
            con.register("deny_extra", pa.table({"v": extra}))
            sources.append(("the deny-list file", "SELECT v FROM deny_extra"))
        if not sources:
            return hits
        # Every file's phrases in one table, so each deny-list source is read and
        # normalised once per scan, not once per file.
        names, found = [], []
        for path in files:
            words = sorted(phrases(file_text(path, skip=skip)))
            names.extend([path.name] * len(words))
            found.extend(words)
        con.register("found_phrases", pa.table({"file": pa.array(names, pa.string()), "p": pa.array(found, pa.string())}))
        for label, sql in sources:
            rows = con.execute(
                f"SELECT f.file, count(DISTINCT d.v) FROM ({sql}) d JOIN found_phrases f ON d.v = f.p "
                "WHERE length(d.v) >= ? OR (length(d.v) >= ? AND regexp_matches(d.v, '[0-9]') "
                "AND regexp_matches(d.v, '[^0-9\\W_]')) GROUP BY f.file",
                [min_length, ID_MIN_LENGTH],
            ).fetchall()
            counts = dict(rows)
            hits.extend(PIIHit(path.name, label, int(counts[path.name])) for path in files if counts.get(path.name))
        con.unregister("found_phrases")
        order = {path.name: i for i, path in enumerate(files)}
        hits.sort(key=lambda h: order[h.file])  # file by file, sources in their order
    finally:
        con.close()
    return hits


def scan_with(
    files: Iterable[Path], settings: PIIScan, *, warehouse: Path | None, root: Path, skip: str = ""
) -> list[PIIHit]:
    """:func:`scan` with the settings of a run's ``pii`` section.

    Parameters
    ----------
    files : iterable of Path
        The pages, notebooks and JSON files about to be published.
    settings : PIIScan
        The ``pii`` section of the run's configuration (its defaults when there is none).
    warehouse : Path, optional
        The warehouse whose :data:`PII_COLUMNS` and ``settings.columns`` are read.
    root : Path
        The project folder relative paths of ``settings`` hang off.
    skip : str
        Text removed from pages before scanning (the Vega bundle).

    Returns
    -------
    list of PIIHit
    """
    resolve = config.Project(root).resolve
    return scan(
        files,
        warehouse=warehouse,
        columns=settings.columns,
        deny_file=resolve(settings.deny_list) if settings.deny_list else None,
        min_length=settings.min_length,
        skip=skip,
        data_files=[(resolve(f.path), f.columns) for f in settings.files],
    )


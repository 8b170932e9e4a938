"""The final personal-data scan of a report pack, or of one analysis, before it is published.

Reports carry aggregates only, and the metrics code suppresses small segments. This scan
is the last line of defence: every word sequence of every page and notebook is looked
up against a deny-list: the values of every column the data model marks ``pii``
(:data:`PII_COLUMNS`: customer, requester, employee and unit ids, names, e-mails), read
from the warehouse, plus the configured columns, data files and deny-list file. The lookup
runs inside the engine as a join on 64-bit hashes of the normalised values, so personal
data never has to be loaded into Python: only the phrases of the report are sent to the
warehouse. (Two different strings sharing a hash would be a false alarm, never a miss; with
millions of values and the tens of thousands of phrases of a pack, the chance is below one
in a million.)

**Kept across runs.** With a history folder (the run's ``<warehouse folder>/cache/history``),
the hashes of each warehouse column are kept there, in ``personal-data/<table>.<column>/``:
Parquet files of distinct hashes, each with a JSON file naming the months it covers and
the fingerprint (rows and hash sum) of that month's rows
(:func:`outcomes.metrics.history.data_state`; tables without a month by their whole
fingerprint). The next month's run hashes the new month's rows only, into a file of its
own; past :data:`MAX_SET_FILES` files, a column's files are merged into one. A file covering
a month whose fingerprint changed, or made by another DuckDB version or normalising SQL,
is removed and its months hashed again, so a stale file is never read. The files hold
hashes, not the values.

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
import hashlib
import html
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outcomes import config
from outcomes.metrics import history
from outcomes.periods import Month
from outcomes.run.config import PIIScan
from outcomes.run.publish import write_text_atomic
from outcomes.warehouse.datamodel import MONTH_COLUMNS, TABLES
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


#: Folder of the history folder keeping the hashed values of each personal-data column.
SETS_DIR = "personal-data"
#: Files of hashes kept per column (a month's run adds one) before they are merged into one.
MAX_SET_FILES = 6


def _months_where(column: str, months: Iterable[str]) -> str:
    """SQL keeping the rows of ``months`` (``YYYY-MM``, or ``none`` for rows without a month)."""
    parts = []
    for month in sorted(months):
        if month == "none":
            parts.append(f"{column} IS NULL")
        else:
            m = Month.parse(month)
            parts.append(f"({column} >= DATE {literal(str(m.start))} AND {column} < DATE {literal(str((m + 1).start))})")
    return " OR ".join(parts) or "FALSE"


def _hashes_sql(table: str, column: str, where: str = "TRUE") -> str:
    """SQL of the hash of every normalised non-empty value of ``table.column`` in the rows ``where`` keeps."""
    raw = f"CAST({quote(column)} AS VARCHAR)"
    return f"SELECT hash({_normalised_sql(raw)}) AS h FROM wh.{quote(table)} WHERE {quote(column)} IS NOT NULL AND ({where})"


def _write_set(con: Any, folder: Path, query: str, engine: str, covers: Mapping[str, str]) -> Path:
    """Write the distinct hashes ``query`` selects, and the months they cover, into ``folder``; return the Parquet file."""
    name = hashlib.sha256(json.dumps([engine, sorted(covers.items())]).encode("utf-8")).hexdigest()[:32]
    target = folder / f"{name}.parquet"
    staging = folder / f".{name}.{os.getpid()}.tmp"
    con.execute(f"COPY (SELECT DISTINCT h FROM ({query})) TO {literal(staging.as_posix())} (FORMAT parquet)")
    os.replace(staging, target)
    write_text_atomic(target.with_suffix(".json"), json.dumps({"engine": engine, "covers": dict(covers)}))
    return target


def _read_sets(files: Iterable[Path]) -> str:
    """SQL of the hashes the Parquet ``files`` hold."""
    return f"SELECT h FROM read_parquet([{', '.join(literal(f.as_posix()) for f in files)}])"


def _kept_sets(con: Any, table: str, column: str, covers: Mapping[str, str], folder: Path, engine: str) -> list[Path]:
    """The Parquet files of distinct hashes of ``table.column`` covering ``covers``, made as needed.

    ``covers`` maps each month of the table (``whole`` for a table without months) to its
    fingerprint. A kept file is used when every month it covers still has the fingerprint
    it was made with; otherwise it is removed. The months no kept file covers are hashed
    into a new file. Past :data:`MAX_SET_FILES` files, they are merged into one.
    """
    folder.mkdir(parents=True, exist_ok=True)
    kept: dict[Path, dict[str, str]] = {}
    for doc_path in sorted(folder.glob("*.json")):
        doc = json.loads(doc_path.read_text(encoding="utf-8"))
        data = doc_path.with_suffix(".parquet")
        if doc.get("engine") == engine and all(covers.get(m) == fp for m, fp in doc["covers"].items()) and data.is_file():
            kept[data] = doc["covers"]
        else:
            doc_path.unlink(missing_ok=True)
            data.unlink(missing_ok=True)
    covered = {m for months in kept.values() for m in months}
    missing = {m: fp for m, fp in covers.items() if m not in covered}
    if missing:
        where = _months_where(quote(MONTH_COLUMNS[table]), missing) if kept else "TRUE"
        kept[_write_set(con, folder, _hashes_sql(table, column, where), engine, missing)] = missing
    if len(kept) > MAX_SET_FILES:
        merged = _write_set(con, folder, _read_sets(kept), engine, covers)
        for path in kept:
            if path != merged:
                path.unlink(missing_ok=True)
                path.with_suffix(".json").unlink(missing_ok=True)
        kept = {merged: dict(covers)}
    return list(kept)


def _column_sources(con: Any, present: set[tuple[str, str]], columns: list[str], keep: Path | None) -> list[tuple[str, str]]:
    """(label, SQL of hashes) for each warehouse column of ``columns`` the warehouse has, kept in ``keep`` when given."""
    wanted = [(spec, *spec.split(".", 1)) for spec in columns]
    wanted = [(spec, table, column) for spec, table, column in wanted if (table, column) in present]
    if keep is None:
        # no DISTINCT: the column's values probe the report's phrases (a small hash table)
        # as they stream by, where a DISTINCT would hash every one of them
        return [(spec, _hashes_sql(table, column)) for spec, table, column in wanted]
    import ibis

    state = history.data_state(ibis.duckdb.from_connection(con), keep)
    engine = f"{con.execute('SELECT version()').fetchone()[0]} {_normalised_sql('v')}"
    whole = {t: {"whole": f"{fp['rows']}:{fp['hash']}"} for t, fp in state["whole"].items()}
    sources = []
    for spec, table, column in wanted:
        covers = state["monthly"].get(table) or whole.get(table)
        # an empty table has no month, hence no file: its (no) values are read as they are
        files = _kept_sets(con, table, column, covers, keep / SETS_DIR / spec, engine) if covers else []
        sources.append((spec, _read_sets(files) if files else _hashes_sql(table, column)))
    return sources


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
    keep: Path | None = None,
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
    keep : Path, optional
        The history folder (:mod:`outcomes.metrics.history`) where the hashes of the
        warehouse's columns are kept across runs (see the module's description); without
        it every value is read and hashed.

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
            con.execute("USE wh")
            sources.extend(_column_sources(con, present, columns, keep))
            con.execute("USE memory")
        for data_file, names in data_files:
            if not data_file.is_file():
                continue
            for column in names:
                # read each file's column once, not once per scanned page
                name = f"pii_file_{len(sources)}"
                con.execute(
                    f"CREATE TEMP TABLE {name} AS SELECT DISTINCT hash(regexp_replace(lower(trim({quote(column)})), '\\s+', ' ', 'g')) "
                    f"AS h FROM read_csv({literal(data_file.as_posix())}, all_varchar = true)"
                )
                sources.append((f"{data_file.name}:{column}", f"SELECT h FROM {name}"))
        if extra:
            con.register("deny_extra", pa.table({"v": extra}))
            sources.append(("the deny-list file", "SELECT hash(v) AS h FROM deny_extra"))
        if not sources:
            return hits
        # Every file's phrases in one table, so each deny-list source is read and
        # normalised once per scan, not once per file.
        names, found = [], []
        for path in files:
            words = sorted(phrases(file_text(path, skip=skip)))
            names.extend([path.name] * len(words))
            found.extend(words)
        con.register("phrase_list", pa.table({"file": pa.array(names, pa.string()), "p": pa.array(found, pa.string())}))
        # The length rule is applied to the phrases: a value matches only a phrase equal to it.
        con.execute(
            "CREATE TEMP TABLE found_phrases AS SELECT file, hash(p) AS h FROM phrase_list "
            f"WHERE length(p) >= {int(min_length)} OR (length(p) >= {ID_MIN_LENGTH} AND regexp_matches(p, '[0-9]') "
            "AND regexp_matches(p, '[^0-9\\W_]'))"
        )
        con.unregister("phrase_list")
        for label, sql in sources:
            rows = con.execute(
                f"SELECT f.file, count(DISTINCT d.h) FROM ({sql}) d JOIN found_phrases f ON d.h = f.h GROUP BY f.file"
            ).fetchall()
            counts = dict(rows)
            hits.extend(PIIHit(path.name, label, int(counts[path.name])) for path in files if counts.get(path.name))
        order = {path.name: i for i, path in enumerate(files)}
        hits.sort(key=lambda h: order[h.file])  # file by file, sources in their order
    finally:
        con.close()
    return hits


def scan_with(
    files: Iterable[Path], settings: PIIScan, *, warehouse: Path | None, root: Path, skip: str = "", keep: Path | None = None
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
    keep : Path, optional
        The history folder keeping the columns' hashes across runs (:func:`scan`).

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
        keep=keep,
    )


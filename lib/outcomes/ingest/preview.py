"""``outcomes sources check``: a source's settings in force and its rows as ingest maps them, nothing written.

For each source of a sources file, :func:`preview_sources` shows

* the settings in force after the presets and the entry are merged
  (:func:`outcomes.ingest.sources.lay_over`), each with where it came from: a preset,
  the sources file, or the default;
* the first rows of its exports as ingest maps them: read, mapped, deduplicated and
  checked by the same steps (:func:`outcomes.ingest.load.map_source`) in a DuckDB
  database in memory, so no warehouse, rejects file or temporary file is written; each
  row with the rules it breaks; values of the columns the data model marks personal
  (``pii``) are masked unless asked for;
* the rows rejected over all its files, by rule, against its ``max_reject_share``.

Each source is checked on its own, so a key that an earlier source of the same table
loaded is not reported as a duplicate here (ingest does report it).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
from rich.table import Table as RichTable

from outcomes import config
from outcomes import format as fmt
from outcomes.errors import ParamsError
from outcomes.ingest import checks
from outcomes.ingest.context import SourceContext, close_match
from outcomes.warehouse.sql import literal as lit
from outcomes.ingest.load import map_source, prepare_connection
from outcomes.ingest.reject_share import RuleCount, over_limit, rule_counts
from outcomes.ingest.sources import Source, SourcesConfig, load_sources, merged_entries
from outcomes.params import read_yaml
from outcomes.warehouse.store import quote

#: What a masked personal value shows.
MASK = "•••"
#: Origin of a setting no preset or entry gives.
DEFAULT = "default"


@dataclass(frozen=True)
class Setting:
    """One setting in force for a source.

    Parameters
    ----------
    key : str
        Its place in the source entry, dotted (``values.channel.Web``).
    value : str
        Its value, as YAML would show it.
    origin : str
        Where it came from: ``preset <name>``, the sources file, or ``default``.
    """

    key: str
    value: str
    origin: str


@dataclass(frozen=True)
class SourcePreview:
    """A source as ingest would read it, without loading it.

    Parameters
    ----------
    source : str
        Source name in the sources file.
    table : str
        Canonical table it loads.
    settings : tuple of Setting
        The settings in force, in the order of the merged entry, defaults last.
    files : tuple of str
        The files read.
    rows_read : int
        Data rows in the files.
    rows_superseded : int
        Older versions of a record dropped by ``dedupe``.
    rows_rejected : int
        Rows that broke at least one rule.
    max_reject_share : float
        The largest share of the rows checked that ingest accepts rejecting.
    rules : tuple of RuleCount
        Rows rejected by each rule broken, most first.
    columns : tuple of str
        The columns of the sample: ``file``, ``row``, the canonical columns, ``rejected by``.
    sample : tuple of tuple of str
        The first rows as mapped, in file order (personal values masked unless asked for).
    """

    source: str
    table: str
    settings: tuple[Setting, ...]
    files: tuple[str, ...]
    rows_read: int
    rows_superseded: int
    rows_rejected: int
    max_reject_share: float
    rules: tuple[RuleCount, ...]
    columns: tuple[str, ...]
    sample: tuple[tuple[str, ...], ...]

    @property
    def rows_checked(self) -> int:
        """Rows the checks judged: those read, less the older versions dropped."""
        return self.rows_read - self.rows_superseded

    @property
    def over_limit(self) -> bool:
        """Whether ingest would stop on this source's share of rejects."""
        return over_limit(self.rows_checked, self.rows_rejected, self.max_reject_share)

    def to_tables(self) -> list[RichTable]:
        """The preview as rich tables: settings, sample rows, rejects by rule."""
        settings = RichTable(title=f"sources.{self.source} → {self.table}: settings in force")
        for name in ("setting", "value", "from"):
            settings.add_column(name)
        for s in self.settings:
            settings.add_row(s.key, s.value, s.origin, style="dim" if s.origin == DEFAULT else None)
        # One line per canonical column and one column per row: a table has too many columns to read across.
        sample = RichTable(title=f"sources.{self.source}: first {len(self.sample)} rows as mapped")
        sample.add_column("column")
        for row in self.sample:
            sample.add_column(f"{Path(row[0]).name} row {row[1]}", overflow="fold")
        for i, name in enumerate(self.columns[2:], start=2):
            sample.add_row(name, *(row[i] for row in self.sample))
        share = self.rows_rejected / self.rows_checked if self.rows_checked else 0.0
        verdict = "over the limit: ingest would stop" if self.over_limit else "within the limit"
        rejects = RichTable(
            title=f"sources.{self.source}: rows rejected by rule",
            min_width=90,
            caption=(
                f"rejected {fmt.count(self.rows_rejected)} of {fmt.count(self.rows_checked)} rows ({fmt.percent(share)}); "
                f"max_reject_share {fmt.percent(self.max_reject_share, exact_digits=True)}, {verdict}"
            ),
        )
        for name in ("rule", "columns", "rows"):
            rejects.add_column(name, justify="right" if name == "rows" else "left")
        for r in self.rules:
            rejects.add_row(r.rule, ", ".join(r.columns), fmt.count(r.rows))
        return [settings, sample, rejects]


def _shown(value: object) -> str:
    """A setting's value as YAML would show it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _settings(merged: dict, origins: dict[tuple[str, ...], str], source: Source) -> tuple[Setting, ...]:
    """The settings in force: each leaf of the merged entry with its origin, then the defaults not overridden."""
    given = []
    for path, origin in origins.items():
        value: object = merged
        for key in path:
            value = value[key]  # type: ignore[index]
        given.append(Setting(".".join(str(k) for k in path), _shown(value), origin))
    defaults = []
    for name in Source.model_fields:
        value = getattr(source, name)
        if name not in merged and value not in (None, {}, []):
            defaults.append(Setting(name, _shown(value), DEFAULT))
    return tuple(given + defaults)


def _sample(ctx: SourceContext, rows: int, show_personal_data: bool) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """The first ``rows`` mapped rows of ``_kept`` in file order, with the rules each breaks."""
    cols = ctx.table.columns
    rules = "(SELECT string_agg(DISTINCT r.rule, ', ' ORDER BY r.rule) FROM _rej r WHERE r._fidx = k._fidx AND r._row = k._row)"
    shown = ", ".join(
        lit(MASK) if c.pii and not show_personal_data else f"CAST({quote(c.name)} AS VARCHAR)" for c in cols
    )
    found = ctx.con.execute(
        f"SELECT f._file, CAST(k._row AS VARCHAR), {shown}, coalesce({rules}, '') FROM _kept k "
        f"JOIN _files f USING (_fidx) ORDER BY _fidx, k._row LIMIT {int(rows)}"
    ).fetchall()
    columns = ("file", "row", *(c.name for c in cols), "rejected by")
    return columns, tuple(tuple("" if v is None else str(v) for v in row) for row in found)


def preview_source(
    name: str,
    source: Source,
    merged: dict,
    origins: dict[tuple[str, ...], str],
    cfg_label: str,
    raw_dir: Path,
    *,
    rows: int = 5,
    show_personal_data: bool = False,
) -> SourcePreview:
    """Read, map and check one source in memory; return its settings, a sample and its rejects by rule.

    Parameters
    ----------
    name : str
        Source name in the sources file.
    source : Source
        Its validated settings.
    merged, origins : dict
        Its merged entry and the origin of each setting (:func:`~outcomes.ingest.sources.lay_over`).
    cfg_label : str
        The sources file, as messages name it.
    raw_dir : Path
        Folder that relative source paths start at.
    rows : int
        Mapped rows to show.
    show_personal_data : bool
        Show the values of columns the data model marks ``pii`` instead of masking them.

    Raises
    ------
    IngestError
        When the mapping or an export cannot be used at all (as ingest would).
    """
    with tempfile.TemporaryDirectory(prefix="outcomes-sources-check-") as scratch:
        con = duckdb.connect()
        try:
            prepare_connection(con)
            con.execute(f"SET temp_directory = {lit(scratch)}")
            ctx = SourceContext(con, name, source, cfg_label, raw_dir)
            mapped = map_source(ctx, Path(scratch))
            _, rejected = checks.row_counts(ctx, len(mapped.files))
            columns, sample = _sample(ctx, rows, show_personal_data)
            counts = rule_counts(ctx)
        finally:
            con.close()
    return SourcePreview(
        source=name,
        table=source.table,
        settings=_settings(merged, origins, source),
        files=tuple(str(f) for f in mapped.files),
        rows_read=sum(mapped.rows_read),
        rows_superseded=mapped.rows_superseded,
        rows_rejected=sum(rejected),
        max_reject_share=source.max_reject_share,
        rules=tuple(counts),
        columns=columns,
        sample=sample,
    )


def preview_sources(
    sources_path: str | Path | None = None,
    *,
    source: str | None = None,
    rows: int = 5,
    show_personal_data: bool = False,
) -> list[SourcePreview]:
    """Preview every source of a sources file (or one), as ``outcomes sources check`` prints them.

    Parameters
    ----------
    sources_path : str or Path, optional
        The source mappings; defaults to ``params/sources.yaml``.
    source : str, optional
        Preview only this source.
    rows : int
        Mapped rows to show per source.
    show_personal_data : bool
        Show the values of columns the data model marks ``pii`` instead of masking them.

    Returns
    -------
    list of SourcePreview
        One per source, in the order of the file.

    Raises
    ------
    ParamsError
        When the file is invalid or names no source ``source``.
    IngestError
        When a mapping or an export cannot be used at all (as ingest would).
    """
    path = config.resolve(sources_path) if sources_path is not None else config.project().params_dir / "sources.yaml"
    cfg: SourcesConfig = load_sources(path)
    entries = merged_entries(read_yaml(path), str(path))
    names = list(cfg.sources)
    if source is not None:
        if source not in cfg.sources:
            raise ParamsError(
                f"{path} has no source '{source}'{close_match(source, names)}; its sources are: {', '.join(names)}; "
                "pass one of them to --source, or leave --source out to check them all"
            )
        names = [source]
    raw_dir = config.resolve(cfg.raw_dir)
    return [
        preview_source(n, cfg.sources[n], *entries[n], str(path), raw_dir, rows=rows, show_personal_data=show_personal_data)
        for n in names
    ]


__all__ = ["DEFAULT", "MASK", "Setting", "SourcePreview", "preview_source", "preview_sources"]

"""Refresh the warehouse from the exports that changed since it was built: ``outcomes ingest``.

A full ingest (:func:`outcomes.ingest.load.run_ingest`) reads every export again. Each
month usually brings one new file per monthly source and leaves the others alone, so
:func:`refresh_ingest` compares the files the sources match now with ``_ingest_log``
(source, file, SHA-256 of its bytes) and redoes only what changed. The unit of work is
a canonical table, with every source that loads it:

* **kept**: none of its sources' files changed; it is not read at all.
* **appended**: one of its sources has new files only, all after its ingested files in
  name order, and no ``dedupe``, and its other sources have no change. Only the new files
  are read, mapped and checked by the same rules (their rows keep their index among all
  the source's files); their rows and rejects are appended and their lines added to the
  log. When sources later in the sources file load the same table, their rows are moved
  after the new ones, so the table's rows stay in the order a full ingest loads them. Two conditions are checked
  after the new rows are checked, and either turns the append into a reload: a new row
  whose key the table already holds (a full ingest rejects it as a duplicate of the
  stored row, naming that row's file and row, which the table does not record), and a
  source whose rejected share over all its files, stored and new, exceeds its
  ``max_reject_share`` (the reload then stops with the same message as a full ingest).
* **reloaded**: anything else — a file changed (same path, other bytes) or removed, a
  new file that sorts before an ingested one, a source with ``dedupe`` (a new version can
  change which older version is kept, the aggregates over all versions and the older
  files' counts in the log), or new files in several sources of one table. Its rows, rejects and
  log lines are deleted and its sources loaded again from all their files.

The result equals a full ingest of the same files, row for row: tables, ``_rejects``,
``_ingest_log`` (but for ``ingested_at``, which keeps when each file was read),
``_fingerprints`` and the rejects CSV files. The canonical tables' rows do not record
their file, which is why a changed or removed file reloads its whole table.

A full rebuild runs instead when there is no warehouse, when it was built with another
data model, when the sources file or a preset it uses is newer than it (any source may
map differently), when it holds a source the sources file does not list (another sources
file wrote it), when every table would be reloaded anyway, or when asked (``--full``).
A logged export whose size and modification time (to the nanosecond) are those logged
is taken as unchanged without reading it; the others are hashed (SHA-256) to find what
changed, and only the ones that changed are read.

The refresh works on a copy of the warehouse, taken under the warehouse lock, and moves
it over the warehouse under the lock only when everything succeeded and the warehouse is
still the one copied; a failure at any step leaves the warehouse and the rejects files
as they were (a source over its ``max_reject_share`` still writes its rejects CSV for
inspection, as a full ingest does).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb

from outcomes.errors import IngestError
from outcomes.ingest import checks, readers, reject_share
from outcomes.ingest.context import SourceContext
from outcomes.ingest.load import (
    IngestSummary,
    IngestTargets,
    LoggedFile,
    Progress,
    SourceResult,
    _count,
    _drop_temporaries,
    _ingest_source,
    _remove,
    _sha256,
    configure_connection,
    ingest_targets,
    log_files,
    logged_files,
    map_source,
    read_log,
    refuse_breaches,
    run_ingest,
    stale_reason,
)
from outcomes.ingest.reject_share import RejectShareBreach
from outcomes.warehouse import lock as warehouse_lock
from outcomes.warehouse.store import LOG_TABLE, REJECTS_TABLE, add_appended_fingerprint, quote, row_sums, store_fingerprints

Action = Literal["keep", "append", "reload"]


@dataclass(frozen=True)
class FileChanges:
    """How one source's files differ from those its rows were ingested from.

    Parameters
    ----------
    source : str
        Source name in the sources file.
    new, changed, removed : tuple of str
        Files matched now and never ingested; ingested with other bytes (SHA-256);
        ingested and no longer matched.
    out_of_order : bool
        A new file sorts before an ingested one, so the files' order changes.
    """

    source: str
    new: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    out_of_order: bool = False

    @property
    def any(self) -> bool:
        """Whether anything changed."""
        return bool(self.new or self.changed or self.removed)


@dataclass(frozen=True)
class TableRefresh:
    """What a refresh does with one canonical table and the sources that load it.

    Parameters
    ----------
    table : str
        The canonical table.
    sources : tuple of str
        Its sources, in the order of the sources file.
    action : {"keep", "append", "reload"}
        Planned by :func:`plan_refresh`; an append found impossible once the new rows
        are checked becomes a reload.
    reason : str
        Why, in words.
    appended : str
        For an append, the source whose new files are appended.
    """

    table: str
    sources: tuple[str, ...]
    action: Action
    reason: str
    appended: str = ""


@dataclass(frozen=True)
class RefreshReport:
    """What :func:`refresh_ingest` did, for the user to read.

    Parameters
    ----------
    mode : {"unchanged", "refresh", "full"}
        Nothing to do; tables kept, appended or reloaded; or a full rebuild.
    reason : str
        Why a full rebuild ran (empty otherwise).
    changes : tuple of FileChanges
        Per source with a change: the files new, changed and removed.
    tables : tuple of TableRefresh
        Per table, what was done (empty for a full rebuild).
    """

    mode: Literal["unchanged", "refresh", "full"]
    reason: str = ""
    changes: tuple[FileChanges, ...] = ()
    tables: tuple[TableRefresh, ...] = ()

    def lines(self) -> list[str]:
        """The report in sentences: each file changed or removed named, then what each touched table went through."""
        out = []
        for c in self.changes:
            out += [f"{c.source}: {f} changed since it was ingested (other bytes)" for f in c.changed]
            out += [f"{c.source}: {f} was ingested and is no longer there; its rows are removed" for f in c.removed]
            out += [f"{c.source}: new file {f}" for f in c.new]
        if self.mode == "full":
            return [*out, f"full rebuild: {self.reason}"]
        if self.mode == "unchanged":
            return ["no export changed since the warehouse was built; nothing was read"]
        out += [f"table {t.table}: {t.action}ed, {t.reason}" for t in self.tables if t.action != "keep"]
        kept = [t.table for t in self.tables if t.action == "keep"]
        if kept:
            out.append(f"kept as they were, no file read: {', '.join(kept)}")
        return out


@dataclass(frozen=True)
class RefreshResult:
    """The result of :func:`refresh_ingest`: the ingest summary and what the refresh did.

    Parameters
    ----------
    summary : IngestSummary
        Rows read, superseded, rejected and loaded per source, over all its files (as a
        full ingest of the same files reports them).
    report : RefreshReport
        Files changed, and what was done with each table.
    """

    summary: IngestSummary
    report: RefreshReport


def file_changes(targets: IngestTargets, logged: list[LoggedFile]) -> dict[str, FileChanges]:
    """Compare the files each source matches now with those logged; one entry per source.

    A source that matches no file now has every logged file removed (a reload then
    raises the same "no file matches" error as a full ingest).
    """
    out = {}
    for name, src in targets.cfg.sources.items():
        _, files = readers.matching_files(src, targets.raw_dir)
        now = [str(f) for f in files]
        old = {line[1]: line for line in logged if line[0] == name}
        new = tuple(f for f in now if f not in old)
        changed = tuple(f for f in now if f in old and _content_changed(Path(f), old[f]))
        removed = tuple(f for f in old if f not in set(now))
        kept = [f for f in now if f in old]
        out[name] = FileChanges(
            source=name,
            new=new,
            changed=changed,
            removed=removed,
            out_of_order=bool(new) and now[: len(kept)] != kept,
        )
    return out


def _content_changed(path: Path, line: LoggedFile) -> bool:
    """Whether a logged file's bytes changed: not when its size and modification time are those logged, else by SHA-256.

    A file rewritten with other bytes of the same size and the same modification time
    to the nanosecond is taken as unchanged (the accepted risk of not hashing every
    file; ``outcomes ingest --full`` reads and hashes everything).
    """
    st = path.stat()
    sha, size, mtime_ns = line[2], line[6], line[7]
    if (st.st_size, st.st_mtime_ns) == (size, mtime_ns):
        return False
    return _sha256(path) != sha


def plan_refresh(targets: IngestTargets, changes: dict[str, FileChanges]) -> list[TableRefresh]:
    """Decide, per canonical table the sources load, whether to keep, append to or reload it."""
    by_table: dict[str, list[str]] = {}
    for name, src in targets.cfg.sources.items():
        by_table.setdefault(src.table, []).append(name)
    plan = []
    for table, names in by_table.items():
        touched = [changes[n] for n in names if changes[n].any]
        if not touched:
            plan.append(TableRefresh(table, tuple(names), "keep", "no file changed"))
            continue
        first = touched[0]
        src = targets.cfg.sources[first.source]
        if first.changed or first.removed:
            why = "a file changed or was removed, and rows do not record their file"
        elif len(touched) > 1:
            why = f"several of its sources have new files ({', '.join(c.source for c in touched)}), whose order decides duplicate keys"
        elif src.dedupe is not None:
            why = f"source {first.source} has dedupe: a new version may change which older one is kept"
        elif first.out_of_order:
            why = f"a new file of source {first.source} sorts before files already ingested"
        else:
            n = len(first.new)
            read = f"{n} new file{'' if n == 1 else 's'} of {first.source} read" if len(names) > 1 else f"{n} new file{'' if n == 1 else 's'} read"
            plan.append(TableRefresh(table, tuple(names), "append", read, appended=first.source))
            continue
        plan.append(TableRefresh(table, tuple(names), "reload", why))
    return plan


def refresh_ingest(
    sources_path: str | Path | None = None,
    *,
    full: bool = False,
    validate: bool = True,
    raw_dir: str | Path | None = None,
    warehouse: str | Path | None = None,
    rejects_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> RefreshResult:
    """Bring the warehouse up to date with the exports, reading only what changed (see the module docstring).

    Parameters
    ----------
    sources_path : str or Path, optional
        The source mappings; defaults to ``params/sources.yaml``.
    full : bool
        Rebuild from every export (:func:`~outcomes.ingest.load.run_ingest`) whatever changed.
    validate, raw_dir, warehouse, rejects_dir, progress
        As for :func:`~outcomes.ingest.load.run_ingest`; ``validate`` checks the tables
        that were appended to or reloaded.

    Returns
    -------
    RefreshResult
        The summary over all files, and what was done.

    Raises
    ------
    IngestError
        As a full ingest does; the warehouse and the rejects files are then left as they were.
    """
    targets = ingest_targets(sources_path, raw_dir=raw_dir, warehouse=warehouse, rejects_dir=rejects_dir)
    reason = "asked for (--full)" if full else stale_reason(targets.warehouse, targets.mappings)
    changes: dict[str, FileChanges] = {}
    if reason is None:
        logged = logged_files(targets.warehouse)
        unknown = sorted({line[0] for line in logged} - set(targets.cfg.sources))
        if unknown:
            reason = f"the warehouse holds source {unknown[0]}, which {targets.cfg_label} does not list"
    if reason is None:
        changes = file_changes(targets, logged)
        if not any(c.any for c in changes.values()):
            return RefreshResult(_summary(targets, logged), RefreshReport(mode="unchanged"))
        if all(t.action == "reload" for t in plan_refresh(targets, changes)):
            reason = "every table changed"
    named = tuple(c for c in changes.values() if c.any)
    if reason is not None:
        summary = run_ingest(
            targets.path,
            validate=validate,
            raw_dir=targets.raw_dir,
            warehouse=targets.warehouse,
            rejects_dir=targets.rejects_dir,
            progress=progress,
        )
        return RefreshResult(summary, RefreshReport(mode="full", reason=reason, changes=named))
    return _refresh(targets, logged, changes, validate, progress)


def _refresh(
    targets: IngestTargets,
    logged: list[LoggedFile],
    changes: dict[str, FileChanges],
    validate: bool,
    progress: Progress | None,
) -> RefreshResult:
    """Apply the plan to a copy of the warehouse and swap it in (the caller checked a refresh applies).

    ``changes`` were found against ``logged``; they are found again should the copy's
    log differ (another ingest swapped a warehouse in meanwhile).
    """
    tmp, live = targets.temporary, targets.warehouse
    parts: dict[Path, Path] = {}
    _remove(tmp)
    with warehouse_lock.exclusive(live):
        shutil.copyfile(live, tmp)
        copied = _identity(live)
    con = duckdb.connect(str(tmp))
    try:
        configure_connection(con)
        if read_log(con) != logged:
            logged = read_log(con)
            changes = file_changes(targets, logged)
        done = []
        breaches: list[RejectShareBreach] = []
        appended: dict[str, int] = {}  # table -> its largest rowid before the append
        moved: dict[str, tuple[int, int]] = {}  # table -> rows set aside and appended again, their hash sum
        for step in plan_refresh(targets, changes):
            if step.action == "append":
                last = {t: _last_rowid(con, t) for t in (step.table, REJECTS_TABLE)}
                if (later := _append(con, targets, step, logged, progress)) is not None:
                    appended[step.table] = last[step.table]
                    moved[step.table] = later
                    appended.setdefault(REJECTS_TABLE, last[REJECTS_TABLE])
                    done.append(step)
                    continue
            if step.action != "keep":
                if step.action == "append":
                    step = TableRefresh(step.table, step.sources, "reload", _APPEND_REFUSED)
                breaches += _reload(con, targets, step, progress)
            done.append(step)
        refuse_breaches(con, breaches, targets, parts)
        touched = [t for t in done if t.action != "keep"]
        if validate:
            # A table only appended to keeps the columns and types it had, which are the data
            # model's (stale_reason checked them before the refresh began).
            reloads = [t.table for t in touched if t.action == "reload" and _count(con, quote(t.table))]
            checks.validate_tables(con, sorted(reloads))
        sources = [s for t in touched for s in t.sources]
        sources += [s for s in targets.cfg.sources if s not in sources and not (targets.rejects_dir / f"{s}.csv").is_file()]
        for source in sources:
            part = targets.rejects_dir / f".{source}.csv.{os.getpid()}.tmp"
            checks.export_rejects(con, source, part)
            parts[part] = targets.rejects_dir / f"{source}.csv"
        reloaded = sorted({t.table for t in touched if t.action == "reload"})
        if reloaded:
            store_fingerprints(con, [*reloaded, REJECTS_TABLE])
        for table, last in appended.items():
            if not (reloaded and table == REJECTS_TABLE):
                add_appended_fingerprint(con, table, last, moved.get(table, (0, 0)))
        summary = _summary(targets, read_log(con))
        con.execute("CHECKPOINT")
        con.close()
        with warehouse_lock.exclusive(live):
            if _identity(live) != copied:
                raise IngestError(
                    f"the warehouse {live} was replaced by another ingest while this refresh ran; nothing was "
                    "changed by this one: run `outcomes ingest` again",
                    file=str(live),
                    expected="the warehouse as it was when the refresh began",
                    found="another file",
                    fix="run `outcomes ingest` again",
                )
            os.replace(tmp, live)
            for part, final in parts.items():
                os.replace(part, final)
    except BaseException:
        con.close()
        _remove(tmp)
        for part in parts:
            part.unlink(missing_ok=True)
        raise
    report = RefreshReport(mode="refresh", changes=tuple(c for c in changes.values() if c.any), tables=tuple(done))
    return RefreshResult(summary, report)


#: Why a planned append became a reload.
_APPEND_REFUSED = (
    "a new row's key is already in the table, or the source's rejected share is over its max_reject_share: "
    "reloaded so that duplicates and the limit are judged as a full ingest judges them"
)


def _last_rowid(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """The largest ``rowid`` of a table (-1 when empty): the rows appended after it have larger ones."""
    return con.execute(f"SELECT coalesce(max(rowid), -1) FROM {quote(table)}").fetchone()[0]


def _identity(path: Path) -> tuple[int, int, int, int]:
    """What tells one warehouse file from the next: device, inode, size, modification time."""
    st = path.stat()
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _append(
    con: duckdb.DuckDBPyConnection, targets: IngestTargets, step: TableRefresh, logged: list[LoggedFile], progress: Progress | None
) -> tuple[int, int] | None:
    """Read, check and append a source's new files; None (nothing appended) when the table must be reloaded instead.

    The rows of the sources after it in the sources file are moved after the new rows
    (:func:`_set_aside_later_rows`), as a full ingest loads them; returns the rows moved
    and the sum of their hashes.
    """
    name = step.appended
    src = targets.cfg.sources[name]
    ctx = SourceContext(con, name, src, targets.cfg_label, targets.raw_dir)
    old = [line for line in logged if line[0] == name]
    mapped = map_source(ctx, targets.warehouse.parent, progress=progress, skip=len(old))
    loaded, rejected = (counts[len(old) :] for counts in checks.row_counts(ctx, len(old) + len(mapped.files)))
    checked = sum(line[4] + line[5] for line in old) + mapped.rows_checked
    too_many = reject_share.over_limit(checked, sum(line[5] for line in old) + sum(rejected), src.max_reject_share)
    if too_many or checks.keys_already_loaded(ctx):
        _drop_temporaries(ctx)
        return None
    earlier = step.sources[: step.sources.index(name) + 1]
    moved = _set_aside_later_rows(con, step.table, sum(line[4] for line in logged if line[0] in earlier))
    checks.load_accepted(ctx)
    if moved[0]:
        con.execute(f"INSERT INTO {quote(step.table)} SELECT * FROM _later")
        con.execute("DROP TABLE _later")
    log_files(con, name, mapped, loaded, rejected)
    _drop_temporaries(ctx)
    return moved


def _set_aside_later_rows(con: duckdb.DuckDBPyConnection, table: str, keep: int) -> tuple[int, int]:
    """Move a table's rows after its first ``keep`` (in stored order) to the temporary table ``_later``.

    The first ``keep`` rows are those of the appended source and the sources before it
    (their rows loaded, from the log): the sources load a table one after the other.

    Returns
    -------
    tuple of int
        The rows moved and the sum of their hashes (:func:`outcomes.warehouse.store.row_sums`),
        so that the table's fingerprint can leave them out: they are appended again.
    """
    # Sorting the rowids of tens of millions of rows to find the first row after ``keep`` cost
    # more than the rest of a monthly refresh's append. Rowids grow in stored order but skip
    # deleted rows, so that row's rowid is ``keep`` or more: count the rows below ``keep`` and
    # sort only those from ``keep`` on (DuckDB skips the rest of the table on a rowid filter).
    t = quote(table)
    if con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] <= keep:
        return (0, 0)
    below = con.execute(f"SELECT count(*) FROM {t} WHERE rowid < {int(keep)}").fetchone()[0]
    first = con.execute(
        f"SELECT rowid FROM {t} WHERE rowid >= {int(keep)} ORDER BY rowid LIMIT 1 OFFSET {int(keep - below)}"
    ).fetchone()[0]
    moved = row_sums(con.execute, table, f"rowid >= {first}")
    con.execute(f"CREATE TEMP TABLE _later AS SELECT * FROM {t} WHERE rowid >= {first} ORDER BY rowid")
    con.execute(f"DELETE FROM {t} WHERE rowid >= {first}")
    return moved


def _reload(
    con: duckdb.DuckDBPyConnection, targets: IngestTargets, step: TableRefresh, progress: Progress | None
) -> list[RejectShareBreach]:
    """Delete a table's rows, its sources' rejects and log lines, and load its sources again from all their files."""
    con.execute(f"DELETE FROM {quote(step.table)}")
    for table in (REJECTS_TABLE, LOG_TABLE):
        con.execute(f"DELETE FROM {table} WHERE list_contains(?, source)", [list(step.sources)])
    breaches = []
    for name in step.sources:
        _, too_many = _ingest_source(
            con,
            name,
            targets.cfg.sources[name],
            targets.cfg_label,
            targets.raw_dir,
            targets.warehouse.parent,
            targets.rejects_dir,
            progress,
        )
        if too_many is not None:
            breaches.append(too_many)
    return breaches


def _summary(targets: IngestTargets, logged: list[LoggedFile]) -> IngestSummary:
    """The ingest summary over every file of the log, per source in the order of the sources file."""
    results = []
    for name, src in targets.cfg.sources.items():
        lines = [line for line in logged if line[0] == name]
        read = sum(line[3] for line in lines)
        loaded = sum(line[4] for line in lines)
        rejected = sum(line[5] for line in lines)
        results.append(
            SourceResult(
                source=name,
                table=src.table,
                files=tuple(line[1] for line in lines),
                rows_read=read,
                rows_superseded=read - loaded - rejected,
                rows_rejected=rejected,
                rows_loaded=loaded,
                rejects_file=targets.rejects_dir / f"{name}.csv",
            )
        )
    return IngestSummary(warehouse=targets.warehouse, sources=tuple(results))


__all__ = [
    "FileChanges",
    "RefreshReport",
    "RefreshResult",
    "TableRefresh",
    "file_changes",
    "plan_refresh",
    "refresh_ingest",
]

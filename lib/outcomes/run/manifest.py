"""The run manifest: what produced a month's reports, so that a run can be checked and repeated.

``manifest.json`` records the parameters, the input data's fingerprints (row count and
content hash per warehouse table, or file hashes of the raw exports when there is no
warehouse), the latest timestamp in the data, package versions, the git commit and the
per-notebook timings.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from outcomes.warehouse import datamodel
from outcomes.warehouse import store


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def raw_file_fingerprints(raw_dir: Path) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of every file under ``raw_dir`` (relative path -> fingerprint)."""
    if not raw_dir.is_dir():
        return {}
    return {
        p.relative_to(raw_dir).as_posix(): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(raw_dir.rglob("*"))
        if p.is_file()
    }


def _latest_timestamp(con: Any) -> str | None:
    """The latest value of any timestamp column of the canonical tables, ISO 8601 (UTC)."""
    present = set(con.list_tables())
    latest = None
    for table in datamodel.TABLES.values():
        if table.name not in present:
            continue
        expr = con.table(table.name)
        for col in table.columns:
            if col.type != "timestamp" or col.name not in expr.columns:
                continue
            value = expr[col.name].max().execute()
            if value is not None and value == value and (latest is None or value > latest):
                latest = value
    return None if latest is None else latest.isoformat()


def data_fingerprints(warehouse: Path | None, raw_dir: Path, *, named: Path | None = None) -> dict[str, Any]:
    """Fingerprints of the input data and its freshness.

    Parameters
    ----------
    warehouse : Path or None
        The DuckDB file read; used when given and it exists (through :mod:`outcomes.warehouse.store`).
    raw_dir : Path
        The raw exports, hashed when there is no warehouse.
    named : Path, optional
        The path recorded as the warehouse's, when ``warehouse`` is a copy of it (the
        run's read snapshot): the user's file is named, the copy's content is fingerprinted.

    Returns
    -------
    dict
        ``source`` (``warehouse``, ``raw_files`` or ``none``), ``fingerprints`` and
        ``latest_timestamp`` (None when unknown).
    """
    if warehouse is not None and warehouse.is_file():
        con = store.connect(warehouse, read_only=True)
        try:
            return {
                "source": "warehouse",
                "path": (named or warehouse).as_posix(),
                "fingerprints": store.fingerprints(con),
                "latest_timestamp": _latest_timestamp(con),
            }
        finally:
            con.disconnect()
    files = raw_file_fingerprints(raw_dir)
    return {
        "source": "raw_files" if files else "none",
        "path": raw_dir.as_posix(),
        "fingerprints": files,
        "latest_timestamp": None,
    }


def package_versions() -> dict[str, str]:
    """Every installed distribution and its version (what ``pip freeze`` lists)."""
    versions = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name:
            versions[name.lower()] = dist.version
    return dict(sorted(versions.items()))


def git_state(repo: Path) -> dict[str, Any]:
    """The commit checked out in ``repo`` and whether the tree has uncommitted changes."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def environment() -> dict[str, Any]:
    """Python and platform of the run."""
    return {"python": sys.version.split()[0], "platform": platform.platform()}

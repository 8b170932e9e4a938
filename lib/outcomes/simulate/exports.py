"""Writing the exports: whole files, files appended month by month, and publishing them.

Everything is written into a staging folder inside the output folder and moved into place
only when the whole company has been generated, ``ground_truth.json`` last. A failed run
therefore never leaves a mix of old and new exports behind.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from rich.table import Table

from outcomes.simulate.world import COMPANY

STAGING = ".demo-partial"
PARQUET_COMPRESSION = "zstd"
#: Dictionary encoding triples Parquet write time on columns of unique ids and buys little under zstd.
PARQUET_DICTIONARY = False


@dataclass(frozen=True)
class ExportFile:
    """One written export.

    Attributes
    ----------
    path : str
        Path relative to the output folder (POSIX separators).
    rows : int
        Data rows written.
    bytes : int
        File size.
    """

    path: str
    rows: int
    bytes: int


@dataclass(frozen=True)
class GenerationSummary:
    """What ``outcomes demo`` wrote.

    Attributes
    ----------
    out_dir : Path
        The output folder.
    seed : int
        Random seed.
    scale : float
        Size of the company.
    files : tuple of ExportFile
        Every export in path order, then ``ground_truth.json`` (no rows).
    seconds : float
        Wall-clock generation time.
    """

    out_dir: Path
    seed: int
    scale: float
    files: tuple[ExportFile, ...]
    seconds: float

    def rows(self, prefix: str) -> int:
        """Total rows of the files whose path starts with ``prefix`` (``"tickets/"``, ``"orders/"``)."""
        return sum(f.rows for f in self.files if f.path.startswith(prefix))

    @property
    def total_rows(self) -> int:
        """Rows written over all exports."""
        return sum(f.rows for f in self.files)

    def to_table(self) -> Table:
        """A rich table: one row per export file with the rows written."""
        table = Table(
            title=f"{COMPANY} (seed {self.seed}, scale {self.scale:g}) written to {self.out_dir} in {self.seconds:.1f} s",
            title_justify="left",
        )
        table.add_column("file")
        table.add_column("rows", justify="right")
        table.add_column("size", justify="right")
        for f in self.files:
            table.add_row(f.path, f"{f.rows:,}", f"{f.bytes / 1e6:,.1f} MB")
        table.add_row("total", f"{self.total_rows:,}", f"{sum(f.bytes for f in self.files) / 1e6:,.1f} MB", style="bold")
        return table


class ExportWriter:
    """Write exports into a staging folder, then publish them into the output folder.

    Parameters
    ----------
    out_dir : Path
        The output folder (created when missing).
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.staging = out_dir / STAGING
        if self.staging.exists():
            shutil.rmtree(self.staging)
        self.staging.mkdir(parents=True)
        self._rows: dict[str, int] = {}
        self._csv: dict[str, pacsv.CSVWriter] = {}
        self._parquet: dict[str, pq.ParquetWriter] = {}

    def _target(self, name: str) -> Path:
        path = self.staging / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def csv(self, name: str, table: pa.Table) -> None:
        """Write a whole CSV file."""
        pacsv.write_csv(table, self._target(name))
        self._rows[name] = table.num_rows

    def parquet(self, name: str, table: pa.Table) -> None:
        """Write a whole Parquet file."""
        pq.write_table(table, self._target(name), compression=PARQUET_COMPRESSION, use_dictionary=PARQUET_DICTIONARY)
        self._rows[name] = table.num_rows

    def append_csv(self, name: str, table: pa.Table) -> None:
        """Append rows to a CSV file, opening it (with its header) on first use."""
        if name not in self._csv:
            self._csv[name] = pacsv.CSVWriter(self._target(name), table.schema)
            self._rows[name] = 0
        self._csv[name].write_table(table)
        self._rows[name] += table.num_rows

    def append_parquet(self, name: str, table: pa.Table) -> None:
        """Append rows to a Parquet file as a new row group, opening it on first use."""
        if name not in self._parquet:
            self._parquet[name] = pq.ParquetWriter(
                self._target(name), table.schema, compression=PARQUET_COMPRESSION, use_dictionary=PARQUET_DICTIONARY
            )
            self._rows[name] = 0
        self._parquet[name].write_table(table)
        self._rows[name] += table.num_rows

    def close(self) -> None:
        """Close the appended files."""
        for writer in [*self._csv.values(), *self._parquet.values()]:
            writer.close()
        self._csv.clear()
        self._parquet.clear()

    def publish(self, last: str, content: str) -> tuple[ExportFile, ...]:
        """Move every export into the output folder and write ``last`` (the ground truth) after them.

        Parameters
        ----------
        last : str
            Name of the file written last.
        content : str
            Its text.

        Returns
        -------
        tuple of ExportFile
            The published files in path order, the ground truth last.
        """
        self.close()
        files = []
        for top in sorted({Path(name).parts[0] for name in self._rows}):
            source, target = self.staging / top, self.out_dir / top
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(source, target)
        for name, rows in sorted(self._rows.items()):
            files.append(ExportFile(name, rows, (self.out_dir / name).stat().st_size))
        truth = self.out_dir / last
        staged = self.staging / last
        staged.write_text(content, encoding="utf-8")
        os.replace(staged, truth)
        self.staging.rmdir()
        files.append(ExportFile(last, 0, truth.stat().st_size))
        return tuple(files)

    def abandon(self) -> None:
        """Close and delete the staging folder after a failure."""
        self.close()
        shutil.rmtree(self.staging, ignore_errors=True)

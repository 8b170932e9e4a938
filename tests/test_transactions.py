"""Reading a purchase log: types, the CDNOW excerpt, and errors that name file, line, column, value and rule."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from outcomes.casestudy import transactions
from outcomes.errors import ParamsError

EXCERPT = Path(__file__).parent / "data" / "case_study" / "cdnow_transactions" / "CDNOW_master.txt.gz"


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "log.txt"
    path.write_text("\n".join(["customer_id date number_of_cds dollar_value", *lines]) + "\n")
    return path


def test_excerpt_reads_as_pandas_would_and_is_described() -> None:
    frame = transactions.read(EXCERPT)
    # the reference: pandas' own reader with the same types (python -c "pd.read_csv(path, sep=r'\s+', ...)")
    ref = pd.read_csv(EXCERPT, sep=r"\s+", dtype={"customer_id": "string"}, parse_dates=["date"], date_format="%Y%m%d")
    assert list(frame.columns) == list(ref.columns)
    assert (frame["customer_id"] == ref["customer_id"]).all() and (frame["date"] == ref["date"]).all()
    assert (frame["dollar_value"] == ref["dollar_value"]).all() and (frame["number_of_cds"] == ref["number_of_cds"]).all()
    text = transactions.describe(frame)
    assert text == (
        f"{len(ref):,} purchases by {ref['customer_id'].nunique():,} customers from "
        f"{ref['date'].min():%d %B %Y} to {ref['date'].max():%d %B %Y}, worth {ref['dollar_value'].sum():,.0f} USD in total."
    )


@pytest.mark.parametrize(
    ("row", "line", "column", "value", "rule"),
    [
        ("00002 1997013 1 12.00", 3, "date", "'1997013'", "a date written as %Y%m%d"),
        ("00002 19970132 1 12.00", 3, "date", "'19970132'", "a date written as %Y%m%d"),
        ("00002 19970112 1 twelve", 3, "dollar_value", "'twelve'", "an amount is a number of zero or more"),
        ("00002 19970112 1 -3.5", 3, "dollar_value", "'-3.5'", "an amount is a number of zero or more"),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, row: str, line: int, column: str, value: str, rule: str) -> None:
    path = _write(tmp_path, ["00001 19970101 2 29.33", row, "00003 19970105 1 11.77"])
    with pytest.raises(ParamsError) as err:
        transactions.read(path)
    message = str(err.value)
    assert message.startswith(f"{path}, line {line}, column '{column}': value {value} breaks the rule: {rule} (1 rows in all).")


def test_missing_column_file_and_rows(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="not found; point raw_dir"):
        transactions.read(tmp_path / "absent.txt")
    path = _write(tmp_path, ["00001 19970101 2 29.33"])
    with pytest.raises(ParamsError, match=r"column\(s\) \['amount'\] not found; the header has \['customer_id', 'date'"):
        transactions.read(path, amount="amount")
    empty = _write(tmp_path, [])
    with pytest.raises(ParamsError, match="header but no purchases"):
        transactions.read(empty)

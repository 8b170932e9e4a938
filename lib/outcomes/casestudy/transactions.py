"""Read a purchase log: one row per purchase, with a customer, a date and an amount.

Customer-value analyses (:mod:`outcomes.casestudy.clv`, :mod:`outcomes.casestudy.clv_holdout`) read purchase
logs that are not part of the warehouse, such as the public CDNOW file. :func:`read`
reads one as text, checks every row and names the first bad one (file, line, column,
value, rule and what to do); :func:`describe` says in one sentence what was read.

Examples
--------
>>> from outcomes import transactions
>>> frame = transactions.read("tests/data/case_study/cdnow_transactions/CDNOW_master.txt.gz")  # doctest: +SKIP
>>> transactions.describe(frame)  # doctest: +SKIP
'1,799 purchases by 600 customers from 01 January 1997 to 30 June 1998, worth 63,606 USD in total.'
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from outcomes.errors import ParamsError

__all__ = ["describe", "read"]


def _fail(path: Path, frame: pd.DataFrame, bad: pd.Series, column: str, rule: str, fix: str) -> None:
    """Raise for the first row flagged in ``bad`` (line numbers count the header as line 1)."""
    first = bad.to_numpy().nonzero()[0]
    if len(first):
        i = int(first[0])
        raise ParamsError(
            f"{path}, line {i + 2}, column '{column}': value {frame[column].iloc[i]!r} breaks the rule: {rule} "
            f"({int(bad.sum()):,} rows in all). {fix}"
        )


def read(
    path: str | Path,
    *,
    customer: str = "customer_id",
    time: str = "date",
    amount: str = "dollar_value",
    date_format: str = "%Y%m%d",
    sep: str = r"\s+",
) -> pd.DataFrame:
    """Read and check a purchase log.

    Parameters
    ----------
    path : str or Path
        A delimited text file with a header row (``.gz`` is read compressed).
    customer, time, amount : str
        Column names of the customer id, the purchase date and the purchase amount.
    date_format : str
        ``strftime`` format of the dates (CDNOW writes ``YYYYMMDD``).
    sep : str
        Column separator, a regular expression (default: any run of whitespace).

    Returns
    -------
    pandas.DataFrame
        Every column of the file; ``customer`` as text, ``time`` as datetime, ``amount``
        as float, and any other column as numbers when all its values are numbers.

    Raises
    ------
    ParamsError
        When the file is missing or empty, a named column is absent, or a row has no
        customer, a date not in ``date_format`` or an amount that is not a number of zero
        or more: the message names the file, line, column, value and rule.
    """
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"purchase log {path} not found; point raw_dir and transactions_file at your copy")
    frame = pd.read_csv(path, sep=sep, dtype="string", keep_default_na=False, engine="python" if len(sep) > 1 else "c")
    missing = [c for c in (customer, time, amount) if c not in frame.columns]
    if missing:
        raise ParamsError(f"{path}: column(s) {missing} not found; the header has {list(frame.columns)}")
    if frame.empty:
        raise ParamsError(f"{path}: the file has a header but no purchases")
    _fail(path, frame, frame[customer].str.strip() == "", customer, "a purchase needs a customer id",
          "Fill in the customer or remove the row.")
    dates = pd.to_datetime(frame[time], format=date_format, errors="coerce")
    # a date must also write back as it was read (pandas accepts '1997013' as %Y%m%d)
    _fail(path, frame, dates.isna() | (dates.dt.strftime(date_format) != frame[time].str.strip()), time, f"a date written as {date_format}",
          "Correct the date, or give the file's date_format.")
    amounts = pd.to_numeric(frame[amount], errors="coerce")
    _fail(path, frame, amounts.isna() | (amounts < 0), amount, "an amount is a number of zero or more",
          "Correct the amount; returns belong in a separate file.")
    others = {}
    for column in frame.columns.difference([customer, time, amount]):
        numbers = pd.to_numeric(frame[column], errors="coerce")
        if numbers.notna().all():
            others[column] = numbers
    return frame.assign(**others, **{time: dates, amount: amounts.astype(float)})


def describe(
    frame: pd.DataFrame,
    *,
    customer: str = "customer_id",
    time: str = "date",
    amount: str = "dollar_value",
    currency: str = "USD",
) -> str:
    """One sentence on a purchase log: purchases, customers, date range and total amount."""
    return (
        f"{len(frame):,} purchases by {frame[customer].nunique():,} customers from {frame[time].min():%d %B %Y} "
        f"to {frame[time].max():%d %B %Y}, worth {frame[amount].sum():,.0f} {currency} in total."
    )

"""Calendar months and windows of months: the report period, parsed once at the edge.

Every period a user gives (``outcomes run --period``, a notebook's ``period`` parameter,
a parameters file) goes through :meth:`Month.parse`, which accepts ``"YYYY-MM"`` or a
date and refuses anything else with one message. Inside the kit a period is a
:class:`Month` and a span of months a :class:`Window`; results keep the ``"YYYY-MM"``
text, ``str(month)``.

Examples
--------
>>> m = Month.parse("2025-12")
>>> str(m), m.label, str(m.next())
('2025-12', 'December 2025', '2026-01')
>>> w = Window.last(3, ending=m)
>>> [str(x) for x in w]
['2025-10', '2025-11', '2025-12']
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Union

import pandas as pd

from outcomes.errors import ParamsError

#: The accepted text form of a month.
MONTH_FORM = "YYYY-MM"
_MONTH_TEXT = re.compile(r"(\d{4})-(\d{2})")

MonthLike = Union["Month", str, dt.date, pd.Timestamp]


@dataclass(frozen=True, order=True)
class Month:
    """One calendar month, ordered in time.

    Parameters
    ----------
    year : int
        The year, 1 to 9999.
    month : int
        The month of the year, 1 to 12.

    Examples
    --------
    >>> Month(2025, 12) + 1
    Month(year=2026, month=1)
    >>> Month.parse("2025-03") - Month.parse("2024-12")
    3
    """

    year: int
    month: int

    def __post_init__(self) -> None:
        if not (1 <= self.month <= 12 and 1 <= self.year <= 9999):
            raise ParamsError(_refusal(f"{self.year:04d}-{self.month:02d}"))

    # ------------------------------------------------------------------ construction

    @classmethod
    def parse(cls, value: MonthLike) -> Month:
        """The month of ``value``: ``"YYYY-MM"``, a date, datetime or Timestamp, or a Month.

        Parameters
        ----------
        value : Month, str, datetime.date, datetime.datetime or pandas.Timestamp
            A string must be exactly ``YYYY-MM`` (surrounding spaces are ignored).

        Returns
        -------
        Month

        Raises
        ------
        ParamsError
            When ``value`` is not a month; the message names the value, the accepted form
            and an example.

        Examples
        --------
        >>> Month.parse("2025-06")
        Month(year=2025, month=6)
        >>> Month.parse(dt.date(2025, 6, 17))
        Month(year=2025, month=6)
        """
        if isinstance(value, Month):
            return value
        if isinstance(value, str):
            match = _MONTH_TEXT.fullmatch(value.strip())
            if match is None:
                raise ParamsError(_refusal(value))
            return cls(int(match.group(1)), int(match.group(2)))
        if isinstance(value, (dt.date, pd.Timestamp)) and not pd.isna(value):
            return cls.of(value)
        raise ParamsError(_refusal(value))

    @classmethod
    def of(cls, when: dt.date | pd.Timestamp) -> Month:
        """The month a date, datetime or Timestamp falls in.

        Examples
        --------
        >>> Month.of(pd.Timestamp("2025-12-31 23:59"))
        Month(year=2025, month=12)
        """
        return cls(when.year, when.month)

    # ------------------------------------------------------------------ views

    @property
    def start(self) -> dt.date:
        """The first day of the month.

        Examples
        --------
        >>> Month(2025, 2).start
        datetime.date(2025, 2, 1)
        """
        return dt.date(self.year, self.month, 1)

    @property
    def end_exclusive(self) -> dt.date:
        """The first day of the next month (the month is ``[start, end_exclusive)``).

        Examples
        --------
        >>> Month(2025, 12).end_exclusive
        datetime.date(2026, 1, 1)
        """
        return self.next().start

    @property
    def last_day(self) -> dt.date:
        """The last day of the month.

        Examples
        --------
        >>> Month(2024, 2).last_day
        datetime.date(2024, 2, 29)
        """
        return dt.date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    @property
    def timestamp(self) -> pd.Timestamp:
        """The first day as a pandas Timestamp (how panels hold their ``period`` column)."""
        return pd.Timestamp(self.year, self.month, 1)

    @property
    def label(self) -> str:
        """The month in words, ``"December 2025"``."""
        return f"{calendar.month_name[self.month]} {self.year}"

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    # ------------------------------------------------------------------ arithmetic

    def next(self) -> Month:
        """The month after this one."""
        return self + 1

    def previous(self) -> Month:
        """The month before this one."""
        return self - 1

    def __add__(self, months: int) -> Month:
        if not isinstance(months, int):
            return NotImplemented
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    def __sub__(self, other: int | Month) -> Month | int:  # type: ignore[override]
        if isinstance(other, Month):
            return (self.year - other.year) * 12 + self.month - other.month
        if isinstance(other, int):
            return self + (-other)
        return NotImplemented


def is_month_text(text: str) -> bool:
    """Whether ``text`` is a month written ``YYYY-MM`` (a published month's folder name).

    Examples
    --------
    >>> is_month_text("2025-12"), is_month_text("2025-13"), is_month_text("case-study")
    (True, False, False)
    """
    if text != text.strip():
        return False
    try:
        Month.parse(text)
    except ParamsError:
        return False
    return True


def _refusal(value: object) -> str:
    """The one message for a value that is not a month."""
    return f"period {value!r} is not a month; write it as {MONTH_FORM}, e.g. 2025-12"


def months_beginning(start: dt.date, end: dt.date) -> tuple[Month, ...]:
    """The months whose first day falls in ``[start, end)``.

    Examples
    --------
    >>> [str(m) for m in months_beginning(dt.date(2025, 1, 15), dt.date(2025, 4, 1))]
    ['2025-02', '2025-03']
    """
    first, out = Month.of(start - dt.timedelta(days=1)).next(), []
    while first.start < end:
        out.append(first)
        first = first.next()
    return tuple(out)


@dataclass(frozen=True)
class Window:
    """Consecutive months from ``first_month`` to ``last_month``, both included.

    Parameters
    ----------
    first_month, last_month : Month or month-like
        First and last month; anything :meth:`Month.parse` accepts.

    Raises
    ------
    ParamsError
        When either is not a month, or ``last_month`` is before ``first_month``.

    Examples
    --------
    >>> w = Window("2025-11", "2026-02")
    >>> len(w), w.start_timestamp, w.end_timestamp
    (4, datetime.datetime(2025, 11, 1, 0, 0), datetime.datetime(2026, 3, 1, 0, 0))
    >>> "2026-01" in w
    True
    """

    first_month: Month
    last_month: Month

    def __post_init__(self) -> None:
        object.__setattr__(self, "first_month", Month.parse(self.first_month))
        object.__setattr__(self, "last_month", Month.parse(self.last_month))
        if self.last_month < self.first_month:
            raise ParamsError(
                f"end month {self.last_month} is before start month {self.first_month}; swap them"
            )

    @classmethod
    def last(cls, n: int, *, ending: MonthLike) -> Window:
        """The ``n`` months ending with ``ending``.

        Examples
        --------
        >>> w = Window.last(24, ending="2025-12")
        >>> str(w.first_month), str(w.last_month)
        ('2024-01', '2025-12')
        """
        if n < 1:
            raise ParamsError(f"a window needs at least 1 month, got {n}")
        end = Month.parse(ending)
        return cls(end - (n - 1), end)

    @property
    def months(self) -> tuple[Month, ...]:
        """Every month of the window, in order."""
        return tuple(self.first_month + i for i in range(len(self)))

    def __iter__(self) -> Iterator[Month]:
        return iter(self.months)

    def __len__(self) -> int:
        return self.last_month - self.first_month + 1

    def contains(self, value: MonthLike) -> bool:
        """Whether the month of ``value`` is in the window."""
        return self.first_month <= Month.parse(value) <= self.last_month

    __contains__ = contains

    @property
    def start(self) -> dt.date:
        """The first day of the first month."""
        return self.first_month.start

    @property
    def end_exclusive(self) -> dt.date:
        """The first day after the last month."""
        return self.last_month.end_exclusive

    @property
    def start_timestamp(self) -> dt.datetime:
        """Midnight of the first day: a SQL filter keeps ``start_timestamp <= t < end_timestamp``."""
        return dt.datetime.combine(self.start, dt.time())

    @property
    def end_timestamp(self) -> dt.datetime:
        """Midnight of the first day after the window (excluded)."""
        return dt.datetime.combine(self.end_exclusive, dt.time())

    def __str__(self) -> str:
        return f"{self.first_month} to {self.last_month}"

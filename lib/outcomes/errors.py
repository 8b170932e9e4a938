"""Exceptions raised by the kit.

Expected conditions in the data (an empty arm, zero variance, a sample-ratio mismatch)
are returned as values on result objects, never raised. These exceptions are for input
the kit cannot use at all, and every message says what, where, what is valid and what
to do.
"""

from __future__ import annotations


class OutcomesError(Exception):
    """Base class of every error the kit raises on purpose."""


class ParamsError(OutcomesError, ValueError):
    """A parameters file (YAML) or a parameter value is invalid."""


class IngestError(OutcomesError):
    """An export cannot be used at all; ingest stops and the warehouse is left untouched.

    Parameters
    ----------
    message : str
        The whole sentence shown to the user: the file, the column, what was
        expected, what was found and what to do.
    file, column, expected, found, fix : str, optional
        The same facts as fields, for programs and tests.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        column: str | None = None,
        expected: str | None = None,
        found: str | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(message)
        self.file = file
        self.column = column
        self.expected = expected
        self.found = found
        self.fix = fix


class WarehouseError(OutcomesError):
    """The warehouse is missing or lacks a table the caller needs."""


class ReportRunError(OutcomesError):
    """A report run failed; the message names the notebook, the cell and the error."""


class PublishError(OutcomesError):
    """Output cannot be written or published as asked: the user must change something.

    Personal data found in a page, an output folder that would overwrite a published
    report, or a folder or disk that refuses the write. The message names the path,
    what was found and what to do; nothing already published is changed.
    """


class RunBusyError(OutcomesError):
    """Another report run holds the reports folder's run lock; the message names it and what to do."""

"""The scorecard page's watermelon section, from the watermelon check's result.

The check itself is :func:`outcomes.scorecard.watermelon.find_watermelons`; this module only
shows it: its sentence, then a table of the flags with what drives each, when there are any.
"""

from __future__ import annotations

from IPython.display import HTML

from outcomes.report.tables import table
from outcomes.report.text import escape
from outcomes.scorecard.watermelon import WatermelonCheck


def watermelon_section(check: WatermelonCheck) -> HTML:
    """The sentence of the check in bold, then the table of its flags (none when nothing was flagged).

    Parameters
    ----------
    check : WatermelonCheck
        The month's watermelon check.

    Returns
    -------
    IPython.display.HTML
    """
    parts = [f"<p><strong>{escape(check.sentence())}</strong></p>"]
    if check.found:
        parts.append(table(check.table()).data)
    return HTML("".join(parts))


__all__ = ["watermelon_section"]

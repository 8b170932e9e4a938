"""The answer a page opens with: one marked-up block the reader sees on the first screen.

Every page of a month (the executive summary, the scorecard, each review, the ROI page and the
month's index) starts with its answer in an element whose id is :data:`ANSWER_ID`, so a reader
on a phone sees it without scrolling and a browser test can find it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from IPython.display import HTML

from outcomes.report.text import escape

#: The id (and class) of the element holding a page's answer.
ANSWER_ID = "outcomes-answer"

#: An amount of money as :func:`outcomes.format.money` writes it ("-EUR 393k", "EUR 1.2m"):
#: kept on one line, since a phone's narrow column would break it after the sign or the code.
_AMOUNT = re.compile(r"(?<![\w-])[-+]?[A-Z]{3} \d[\d.,]*(?:k|m|bn)?(?![\w])")


def unbroken(text: str) -> str:
    """Escaped ``text`` with each amount of money in a span that does not wrap."""
    return _AMOUNT.sub(lambda m: f'<span class="outcomes-nowrap">{m.group(0)}</span>', escape(text))


def answer(lead: str, details: Sequence[str] = (), *, label: str = "The answer") -> HTML:
    """A page's answer: a bold lead sentence, then a few short lines.

    Parameters
    ----------
    lead : str
        The answer in one sentence (escaped; amounts of money are kept on one line).
    details : sequence of str
        Short supporting lines, one bullet each (escaped, amounts kept on one line); empty
        lines are dropped.
    label : str
        Its accessible name.

    Returns
    -------
    IPython.display.HTML
        ``<section id="outcomes-answer" class="outcomes-answer">`` holding the text.

    Examples
    --------
    >>> answer("Roll out.", ["NPV EUR 1.2m"]).data.count("<li>")
    1
    """
    items = "".join(f"<li>{unbroken(d)}</li>" for d in details if d)
    body = f'<p class="outcomes-answer-lead"><strong>{unbroken(lead)}</strong></p>'
    body += f"<ul>{items}</ul>" if items else ""
    return HTML(f'<section id="{ANSWER_ID}" class="{ANSWER_ID}" aria-label="{escape(label)}">{body}</section>')

"""What a reader sees on a page, and the number forms a page must never show.

Shared by the tests of the case-study pages: on their library output (fast) and on the
rendered pages of the case-study run (slow).
"""

from __future__ import annotations

import html
import re

#: A count written with a decimal point ("3,467.0", "8,144.0 tickets"); not a percentage or percentage points.
DECIMAL_COUNT = re.compile(
    r"(?<![\d.,])\d{1,3}(?:,\d{3})+\.0(?![\d%])(?!\s*(?:%|pp))|(?<![\d.,])\d+\.0 (?:count|orders|customers|tickets)\b"
)
#: A coefficient rounded to nothing ("-0.0", "0.0"); not a percentage or percentage points, nor the low end of a range of them.
ZERO_COEF = re.compile(r"(?<![\d.,])-?0\.0(?!\d)(?!\s*(?:%|pp))(?! to [+-]?[\d.,]+\s*(?:%|pp))")


def visible_text(page: str) -> str:
    """The text of an HTML page without scripts, styles and tags, one cell or paragraph per line."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    page = re.sub(r"<[^>]+>", "\n", page)
    return re.sub(r"\n\s*\n+", "\n", html.unescape(page))

"""Escaping for text that comes from parameter files or data and ends up in a report.

Initiative names, hypotheses and segment labels come from YAML files and exports; a
report must show them as text, never run them as HTML or follow them as Markdown links.
Notebooks write narration with :func:`md`, whose template is trusted and whose values
are escaped.
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Sequence
from typing import Any

from IPython.display import Markdown

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")  # ">" is written as &gt; by the HTML escape


class _EscapingFormatter(string.Formatter):
    """``str.format`` whose substituted fields are escaped after formatting."""

    def format_field(self, value: Any, format_spec: str) -> str:
        return escape_md(super().format_field(value, format_spec))


def escape(text: Any) -> str:
    """Escape a value for HTML: ``<script>`` shows as the text ``<script>``.

    Parameters
    ----------
    text : Any
        Converted with ``str()``.

    Returns
    -------
    str
        The text with ``& < > " '`` written as HTML entities.
    """
    return html.escape(str(text), quote=True)


def escape_md(text: Any) -> str:
    """Escape a value for Markdown: HTML entities plus backslashes before Markdown syntax.

    The result renders as the literal text: no tags, links, emphasis or headings.

    Parameters
    ----------
    text : Any
        Converted with ``str()``; newlines become spaces so a value cannot start a block.

    Returns
    -------
    str
        Markdown source that displays ``text`` verbatim.
    """
    one_line = " ".join(str(text).split())
    # Markdown syntax first, then HTML: escaping the other way round would put a backslash
    # inside entities such as ``&#x27;`` and show them as text.
    return escape(_MD_SPECIAL.sub(r"\\\1", one_line))


def md(template: str, /, **values: Any) -> Markdown:
    """Markdown narration with escaped values, for a notebook cell's output.

    Parameters
    ----------
    template : str
        Trusted Markdown written in the notebook, with ``{name}`` placeholders
        (``str.format`` syntax, including format specs such as ``{share:.1%}``).
    **values
        Values from parameters or data. Strings are escaped with :func:`escape_md`;
        numbers are formatted first, then escaped.

    Returns
    -------
    IPython.display.Markdown
        Displayed as Markdown by Jupyter and by the HTML export.

    Examples
    --------
    >>> md("## Review of {name}", name="<script>alert(1)</script>").data
    '## Review of &lt;script&gt;alert\\\\(1\\\\)&lt;/script&gt;'
    """
    return Markdown(_EscapingFormatter().format(template, **values))


def bullets(sentences: Sequence[str]) -> Markdown:
    """A Markdown bullet list of sentences, each escaped (the sentences come from results)."""
    return Markdown("\n".join(f"- {escape_md(s)}" for s in sentences) or "- none")

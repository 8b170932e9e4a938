"""Escaping for text that comes from parameter files or data and ends up in a report.

Initiative names, hypotheses and segment labels come from YAML files and exports; a
report must show them as text, never run them as HTML or follow them as Markdown links.
Notebooks write narration with :func:`md`, whose template is trusted and whose values
are escaped. Sentences the kit builds from data (a metric's label in a plan, a data
condition) keep their Markdown emphasis and pass through :func:`safe_markdown`: HTML is
escaped and a link may only lead to an ``http``/``https`` address or a relative path.
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Sequence
from typing import Any

from IPython.display import Markdown

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")  # ">" is written as &gt; by the HTML escape
#: Schemes a link may carry; a link without a scheme (a relative path, an anchor) is allowed too.
LINK_SCHEMES = frozenset({"http", "https"})
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
_INVISIBLE = re.compile(r"[\x00-\x20\x7f]")  # browsers drop these from a URL before reading its scheme
#: ``](target`` of an inline link or image (``<`` is already ``&lt;``, so no ``<target>`` form remains).
_INLINE_TARGET = re.compile(r"\]\(([^)]*)")
#: ``[label]: target`` of a link reference definition.
_REFERENCE = re.compile(r"^( {0,3})\[([^\]\n]*)\]:[ \t]*(\S*)", re.M)


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


def link_allowed(target: str) -> bool:
    """Whether a link target may be published: ``http``, ``https`` or relative (no scheme).

    Parameters
    ----------
    target : str
        The link's address as written.

    Returns
    -------
    bool
        False for ``javascript:``, ``data:``, ``vbscript:``, ``file:`` and every other scheme,
        also when control characters, spaces or HTML entities hide the scheme.
    """
    decoded, previous = target, None
    while decoded != previous:  # renderers may decode entities more than once: decode until stable
        decoded, previous = html.unescape(decoded), decoded
    m = _SCHEME.match(_INVISIBLE.sub("", decoded))
    return m is None or m.group(1).lower() in LINK_SCHEMES


def safe_markdown(source: str) -> str:
    r"""Markdown built from sentences and data, made safe to publish.

    HTML is escaped (``<script>`` shows as text) and every Markdown link, image or link
    reference whose target is not allowed (:func:`link_allowed`) is turned into text by
    escaping its brackets: ``[x](javascript:alert(1))`` shows as written and cannot be
    clicked. Emphasis, lists and code spans of the source are kept.

    Parameters
    ----------
    source : str
        Markdown whose structure the kit wrote and whose words may come from parameters
        files or data.

    Returns
    -------
    str
        Markdown source with no HTML and no link outside ``http``, ``https`` or a relative path.

    Examples
    --------
    >>> safe_markdown("[x](javascript:alert(1)) and [docs](https://example.com)")
    '[x\\](javascript:alert(1)) and [docs](https://example.com)'
    """
    text = html.escape(source, quote=False)
    text = _INLINE_TARGET.sub(lambda m: m.group(0) if link_allowed(m.group(1)) else "\\" + m.group(0), text)
    return _REFERENCE.sub(lambda m: m.group(0) if link_allowed(m.group(3)) else f"{m.group(1)}\\[{m.group(2)}\\]:{m.group(0).split(']:', 1)[1]}", text)


def paragraphs(sentences: Sequence[str]) -> Markdown:
    """Sentences built from data as Markdown paragraphs, through :func:`safe_markdown`; empty ones are dropped."""
    return Markdown(safe_markdown("\n\n".join(s for s in sentences if s)))


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

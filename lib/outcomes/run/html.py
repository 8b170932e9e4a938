"""Executed notebook -> one self-contained, offline HTML page.

The page is built by nbconvert's :class:`~nbconvert.HTMLExporter` with the template
``templates/outcomes_report`` (derived from ``lab``): no code, no prompts, no
``injected-parameters`` cell, no stderr, no require.js/MathJax/mermaid, the Vega bundle
from vl-convert inlined once (only when the page has charts), a table of contents and
the house CSS (phone and print). :func:`check_page` is the gate every published page
passes: no external script, link, stylesheet or image, no link or source with a scheme
other than ``http``, ``https`` or a relative path (images the kit embeds as
``data:image/...`` apart), and a size limit.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import TagRemovePreprocessor

from outcomes.report.renderer import CHART_CLASS, vega_lite_version
from outcomes.run.publish import write_text_atomic
from outcomes.report.text import link_allowed

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "outcomes_report"
TOC_PLACEHOLDER = "<!--outcomes-toc-->"

#: Cells carrying one of these tags are left out of the page.
REMOVE_CELL_TAGS = frozenset({"injected-parameters", "remove_cell", "remove-cell"})
#: Cells carrying one of these tags show their output only (code is never shown anyway).
REMOVE_INPUT_TAGS = frozenset({"remove_input", "remove-input"})

_EXTERNAL = [
    (re.compile(r"<script\b[^>]*\bsrc\s*=", re.I), "a <script src=...> (external script)"),
    (re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?(?!data:|#)", re.I), "a <link href=...> (external stylesheet or resource)"),
    (re.compile(r"\b(?:src|href|srcset|poster|action|data)\s*=\s*[\"']?\s*(?:https?:)?//", re.I), "an attribute pointing at the network (http://, https:// or //)"),
    (re.compile(r"url\(\s*[\"']?\s*(?:https?:)?//", re.I), "a CSS url() pointing at the network"),
    (re.compile(r"@import\b", re.I), "a CSS @import"),
    (re.compile(r"<iframe\b", re.I), "an <iframe>"),
    (re.compile(r"Error loading script", re.I), "an 'Error loading script' message"),
]


#: Attributes holding an address a reader's browser may follow or load.
URL_ATTRIBUTES = frozenset({"href", "src", "xlink:href", "action", "formaction", "poster", "background", "cite", "srcset"})
#: Tags whose ``src`` may be a ``data:image/...`` address: the charts' fallback images the kit embeds.
DATA_IMAGE_TAGS = frozenset({"img"})


class _AddressParser(HTMLParser):
    """Collects ``(tag, attribute, address)`` of every URL-bearing attribute (script bodies are not parsed)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.addresses: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in URL_ATTRIBUTES and value is not None:
                parts = [p.strip().split(" ")[0] for p in value.split(",")] if name == "srcset" else [value]
                self.addresses.extend((tag, name, p) for p in parts)

    handle_startendtag = handle_starttag


def unsafe_addresses(page: str) -> list[str]:
    """Every link or source of an HTML page whose scheme a published page may not carry.

    Allowed: no scheme (a relative path or an anchor), ``http``, ``https``
    (:func:`outcomes.report.text.link_allowed`), and ``data:image/...`` in an ``<img src>``
    (the kit embeds chart images that way). Anything else, such as ``javascript:``,
    ``vbscript:``, ``file:`` or a ``data:`` page, is returned.

    Parameters
    ----------
    page : str
        The HTML text.

    Returns
    -------
    list of str
        Each offending address as ``<tag attribute="address">``, in page order.
    """
    parser = _AddressParser()
    parser.feed(page)
    parser.close()
    bad = []
    for tag, attr, address in parser.addresses:
        embedded = tag in DATA_IMAGE_TAGS and attr == "src" and address.strip().lower().startswith("data:image/")
        if not (embedded or link_allowed(address)):
            bad.append(f'<{tag} {attr}="{address[:80]}{"..." if len(address) > 80 else ""}">')
    return bad


@lru_cache(maxsize=1)
def vega_bundle() -> str:
    """The Vega, Vega-Lite and vega-embed JavaScript matching Altair's Vega-Lite version.

    vl-convert bundles it in about 1.3 s of CPU on each process's first call; the bundle
    depends only on vl-convert's and Vega-Lite's versions, so it is kept in the user's
    cache folder (:func:`bundle_cache_path`) and read from there by later runs. A cached
    copy that does not look like the bundle is made again.

    Returns
    -------
    str
        One script (about 900 KB) that defines ``window.vegaEmbed``.
    """
    import vl_convert as vlc

    cached = bundle_cache_path()
    try:
        bundle = cached.read_text(encoding="utf-8")
    except OSError:
        bundle = ""
    if "vegaEmbed" not in bundle:
        bundle = vlc.javascript_bundle(vl_version=vega_lite_version())
        _keep(cached, bundle)
    if re.search(r"</script", bundle, re.I):
        raise RuntimeError("the vl-convert JavaScript bundle contains '</script' and cannot be inlined")
    return bundle


def bundle_cache_path() -> Path:
    """Where :func:`vega_bundle` keeps the bundle: the user's cache folder, named by both versions."""
    import platformdirs
    import vl_convert as vlc

    return Path(platformdirs.user_cache_dir("outcomes")) / f"vega-bundle-{vlc.__version__}-{vega_lite_version()}.js"


def _keep(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all; a folder that cannot be written is no error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
    except OSError:
        pass


@lru_cache(maxsize=1)
def house_css() -> str:
    """The house CSS shared by report pages and the index pages."""
    return (TEMPLATES_DIR / "outcomes.css").read_text(encoding="utf-8")


def make_exporter() -> HTMLExporter:
    """Return the configured HTML exporter (template, no input, no prompts, tag removal)."""
    exporter = HTMLExporter(
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(TEMPLATES_DIR)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        theme="light",
    )
    remover = TagRemovePreprocessor(
        remove_cell_tags=set(REMOVE_CELL_TAGS), remove_input_tags=set(REMOVE_INPUT_TAGS), enabled=True
    )
    exporter.register_preprocessor(remover, enabled=True)
    return exporter


def has_charts(nb: nbformat.NotebookNode) -> bool:
    """Whether any output of the notebook holds a chart of the ``outcomes`` renderer."""
    marker = f'class="{CHART_CLASS}"'
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("data", {}).get("text/html", "")
            if marker in ("".join(text) if isinstance(text, list) else text):
                return True
    return False


@dataclass(frozen=True)
class Heading:
    """A heading of the rendered page, for the table of contents."""

    level: int
    anchor: str
    text: str


class _HeadingParser(HTMLParser):
    """Collects ``h1``-``h3`` elements that carry an ``id`` (nbconvert adds them)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.headings: list[Heading] = []
        self._open: tuple[int, str] | None = None
        self._text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in {"h1", "h2", "h3"} and a.get("id"):
            self._open, self._text = (int(tag[1]), a["id"] or ""), []
        elif self._open and tag == "a" and "anchor-link" in (a.get("class") or ""):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if self._open and tag == "a" and self._skip:
            self._skip -= 1
        elif self._open and tag == f"h{self._open[0]}":
            text = " ".join("".join(self._text).split())
            if text:
                self.headings.append(Heading(self._open[0], self._open[1], text))
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open and not self._skip:
            self._text.append(data)


def headings(page: str) -> list[Heading]:
    """The ``h1``-``h3`` headings (with ids) of an HTML page, in order."""
    parser = _HeadingParser()
    parser.feed(page)
    return parser.headings


def toc_html(items: list[Heading]) -> str:
    """A collapsible table of contents of the level-2 and level-3 headings ("" when fewer than two)."""
    entries = [h for h in items if h.level in (2, 3)]
    if len(entries) < 2:
        return ""
    # level-3 headings nest under the level-2 heading before them, so the numbers count sections only
    groups: list[tuple[Heading, list[Heading]]] = []
    for h in entries:
        if h.level == 3 and groups:
            groups[-1][1].append(h)
        else:
            groups.append((h, []))

    def link(h: Heading) -> str:
        return f'<a href="#{html.escape(h.anchor, quote=True)}">{html.escape(h.text)}</a>'

    def item(top: Heading, subs: list[Heading]) -> str:
        nested = "".join(f'<li class="level-3">{link(h)}</li>' for h in subs)
        return f'<li class="level-{top.level}">{link(top)}{f"<ul>{nested}</ul>" if nested else ""}</li>'

    lines = "".join(item(top, subs) for top, subs in groups)
    return f'<nav class="outcomes-toc" aria-label="Contents"><details><summary>Contents</summary><ol>{lines}</ol></details></nav>'


def first_heading(nb: nbformat.NotebookNode) -> str | None:
    """The page's title: its first level-1 heading, else its first heading of any level.

    Markdown cells and Markdown outputs of code cells count, in cell order; cells the
    export removes (:data:`REMOVE_CELL_TAGS`) do not, so a notebook can keep a generic
    heading for JupyterLab readers and print the page's own (e.g. an initiative's name)
    after sections such as "Not shown this month".
    """
    found: list[tuple[int, str]] = []
    for cell in nb.cells:
        if REMOVE_CELL_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        if cell.cell_type == "markdown":
            texts = [cell.source]
        else:
            texts = [
                "".join(md) if isinstance(md, list) else md
                for out in cell.get("outputs", [])
                if (md := out.get("data", {}).get("text/markdown"))
            ]
        for text in texts:
            for line in text.splitlines():
                m = re.match(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$", line)
                if m and m.group(2):
                    found.append((len(m.group(1)), html.unescape(m.group(2).replace("\\", ""))))
    top = [text for level, text in found if level == 1]
    return (top or [text for _, text in found] or [None])[0]


def export_html(
    nb: nbformat.NotebookNode, out_path: Path, *, title: str, back_label: str = "Report index", meta: str = ""
) -> Path:
    """Render an executed notebook to one offline HTML page.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The executed notebook (read from the run's output ``.ipynb``).
    out_path : Path
        The page to write.
    title : str
        The page title (escaped).
    back_label : str
        Text of the link back to the month's ``index.html``.
    meta : str
        A line shown at the top (period, run date), escaped.

    Returns
    -------
    Path
        ``out_path``.
    """
    nb = nbformat.from_dict(nb)
    nb.metadata["title"] = title
    resources = {
        "metadata": {"name": title},
        "vega_bundle": vega_bundle() if has_charts(nb) else "",
        "outcomes_css": house_css(),
        "outcomes_back_label": back_label,
        "outcomes_meta": meta,
    }
    page, _ = make_exporter().from_notebook_node(nb, resources=resources)
    page = page.replace(TOC_PLACEHOLDER, toc_html(headings(page)), 1)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(page, encoding="utf-8")
    return out_path


def check_page(path: Path, max_bytes: int) -> list[str]:
    """Check that a page is self-contained and small enough to publish.

    Parameters
    ----------
    path : Path
        An HTML page.
    max_bytes : int
        Largest size allowed.

    Returns
    -------
    list of str
        Problems found (empty when the page may be published), each naming the file.
    """
    problems = []
    size = path.stat().st_size
    if size > max_bytes:
        problems.append(f"{path.name}: {size / 1e6:.1f} MB exceeds the {max_bytes / 1e6:.1f} MB limit; chart fewer rows (aggregate first)")
    text = path.read_text(encoding="utf-8")
    if vega_bundle.cache_info().currsize or "window.vegaEmbed" in text:
        text = text.replace(vega_bundle(), "")
    for pattern, what in _EXTERNAL:
        m = pattern.search(text)
        if m:
            start = max(m.start() - 40, 0)
            snippet = " ".join(text[start : m.end() + 40].split())
            problems.append(f"{path.name}: contains {what}: ...{snippet}...")
    problems.extend(
        f"{path.name}: contains a link with a scheme other than http, https or a relative path: {a}; "
        "a parameters file or the data put it there: write the text without it (the kit shows such text as text)"
        for a in unsafe_addresses(text)
    )
    return problems

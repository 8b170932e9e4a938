"""An Altair renderer whose output works offline: a static SVG plus progressive interactivity.

Altair's default ``html`` renderer loads Vega from a CDN, so an offline reader sees no
chart. The ``outcomes`` renderer returns, for each chart, a ``text/html`` output made of

* a ``<div class="outcomes-chart">`` holding the chart drawn as SVG by vl-convert, as
  an ``<img>`` (it shows in JupyterLab, in the exported page without JavaScript, and in
  print), and
* a small ``<script>`` that, when the page defines ``window.vegaEmbed`` (the report
  template inlines the Vega bundle once per page), draws the interactive chart with
  tooltips and then removes the static image.

The embedded specification escapes ``<``, ``>`` and ``&`` so that no text in the data can
close the script element. ``actions: false`` removes the "Open in Vega Editor" link,
which would send the data to an external site.

In a kernel that a Jupyter server started (JupyterLab, Notebook 7: the server sets
``JPY_SESSION_NAME``), the bundle is the Vega-Lite specification under
:data:`VEGA_LITE_MIME` (JupyterLab draws it itself, with tooltips) and the static SVG;
JupyterLab prefers ``text/html`` to Vega-Lite, so that bundle leaves the HTML out. Every
other kernel (papermill, nbval, a script) gets the offline HTML, which nbconvert exports.
The Vega-Lite key ends in ``+json``: nbformat accepts a JSON payload only under such a
key (Altair 6's own ``mimetype`` renderer writes ``application/vnd.vegalite.v6.json``,
which fails papermill's validation).
"""

from __future__ import annotations

import base64
import html
import json
import os
import uuid
from typing import Any

import altair as alt
import vl_convert as vlc
from altair.utils._importers import vl_version_for_vl_convert

RENDERER_NAME = "outcomes"
CHART_CLASS = "outcomes-chart"
#: The Vega-Lite MIME type JupyterLab renders natively (its Vega extension knows v3 to v5).
VEGA_LITE_MIME = "application/vnd.vegalite.v5+json"
#: Set by a Jupyter server in the environment of the kernels it starts.
JUPYTER_SERVER_ENV = "JPY_SESSION_NAME"

_SCRIPT = (
    "(function(){{var c=document.getElementById({cid});"
    "if(!c||!window.vegaEmbed)return;"
    "vegaEmbed(c.querySelector('.outcomes-chart-live'),{spec},{{actions:false,renderer:'svg'}})"
    ".then(function(){{var f=c.querySelector('.outcomes-chart-fallback');if(f)f.remove();}})"
    ".catch(function(e){{console.warn('chart kept as a static image:',e);}});}})();"
)


def vega_lite_version() -> str:
    """The Vega-Lite version of Altair's specifications, as vl-convert names it (e.g. ``v6_4``)."""
    return vl_version_for_vl_convert()


def script_json(value: Any) -> str:
    """Serialise ``value`` as JSON that is safe inside an HTML ``<script>`` element.

    Parameters
    ----------
    value : Any
        A JSON-serialisable value.

    Returns
    -------
    str
        JSON with ``<``, ``>``, ``&`` and the JavaScript line separators written as
        ``\\uXXXX`` escapes, so that no string can end the script.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, code)
    return text


def chart_title(spec: dict[str, Any]) -> str:
    """A one-line text description of a chart: its title, else its description, else "Chart"."""
    title = spec.get("title")
    if isinstance(title, dict):
        title = title.get("text")
    if isinstance(title, list):
        title = " ".join(str(t) for t in title)
    return str(title or spec.get("description") or "Chart")


def chart_html(spec: dict[str, Any]) -> str:
    """Return the offline HTML of one Vega-Lite specification.

    Parameters
    ----------
    spec : dict
        A complete Vega-Lite specification with its data inlined (``chart.to_dict()``).

    Returns
    -------
    str
        The chart container (static SVG image) followed by the progressive-enhancement script.
    """
    svg = vlc.vegalite_to_svg(spec, vl_version=vega_lite_version())
    cid = f"chart-{uuid.uuid4().hex[:16]}"
    label = html.escape(chart_title(spec), quote=True)
    b64 = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return (
        f'<div class="{CHART_CLASS}" id="{cid}" role="figure" aria-label="{label}">'
        f'<div class="outcomes-chart-live"></div>'
        f'<img class="outcomes-chart-fallback" alt="{label}" src="data:image/svg+xml;base64,{b64}">'
        f"</div>\n<script>{_SCRIPT.format(cid=script_json(cid), spec=script_json(spec))}</script>"
    )


def live_frontend() -> bool:
    """Whether this kernel was started by a Jupyter server (JupyterLab, Notebook), not by papermill."""
    return bool(os.environ.get(JUPYTER_SERVER_ENV))


def render(spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    """Altair renderer entry point: the MIME bundle of one chart.

    Parameters
    ----------
    spec : dict
        The Vega-Lite specification Altair passes to renderers.
    **metadata
        Renderer options (unused; accepted for Altair's interface).

    Returns
    -------
    dict
        In a kernel of a Jupyter server (:func:`live_frontend`): the specification under
        :data:`VEGA_LITE_MIME`, ``image/svg+xml`` and ``text/plain``. Elsewhere:
        ``text/html`` (the offline chart) and ``text/plain`` (its title).
    """
    title = f"<Chart: {chart_title(spec)}>"
    if live_frontend():
        svg = vlc.vegalite_to_svg(spec, vl_version=vega_lite_version())
        return {VEGA_LITE_MIME: spec, "image/svg+xml": svg, "text/plain": title}
    return {"text/html": chart_html(spec), "text/plain": title}


def enable() -> None:
    """Register (once) and enable the ``outcomes`` renderer."""
    if RENDERER_NAME not in alt.renderers.names():
        alt.renderers.register(RENDERER_NAME, render)
    alt.renderers.enable(RENDERER_NAME)

"""The house Altair theme: one look for every chart of the report pack.

The theme is registered once, under the name ``outcomes``, with
:func:`altair.theme.register`; :func:`enable` switches it on (the notebook setup call
does this). Colours are the Okabe-Ito palette, which stays distinguishable for
readers with colour-vision deficiencies and in greyscale print.
"""

from __future__ import annotations

import altair as alt

THEME_NAME = "outcomes"

#: Okabe-Ito colours, in the order categories receive them.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000"]

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
INK = "#1f2933"
MUTED = "#52606d"
GRID = "#e4e7eb"


def house_theme() -> alt.theme.ThemeConfig:
    """Return the house theme's configuration.

    Returns
    -------
    altair.theme.ThemeConfig
        A Vega-Lite ``config`` block: fonts, sizes, palette, axes and legends.
    """
    return {
        "config": {
            "background": "white",
            "font": FONT,
            "view": {"continuousWidth": 560, "continuousHeight": 280, "discreteWidth": 560, "stroke": None},
            "title": {"anchor": "start", "fontSize": 15, "fontWeight": 600, "color": INK, "subtitleColor": MUTED},
            "axis": {
                "labelColor": MUTED,
                "titleColor": INK,
                "labelFontSize": 12,
                "titleFontSize": 12,
                "titleFontWeight": 500,
                "gridColor": GRID,
                "domainColor": "#9aa5b1",
                "tickColor": "#9aa5b1",
            },
            "axisXDiscrete": {"labelAngle": 0, "labelLimit": 140},
            "legend": {"labelColor": MUTED, "titleColor": INK, "labelFontSize": 12, "titleFontSize": 12, "orient": "bottom"},
            "range": {"category": PALETTE},
            "line": {"strokeWidth": 2.5},
            "point": {"filled": True, "size": 50},
            "bar": {"color": PALETTE[0]},
            "rule": {"color": MUTED},
            "text": {"color": INK, "fontSize": 12},
        }
    }


def register() -> None:
    """Register the house theme with Altair, once per process."""
    if THEME_NAME not in alt.theme.names():
        alt.theme.register(THEME_NAME, enable=False)(house_theme)


def enable() -> None:
    """Register (when needed) and enable the house theme."""
    register()
    alt.theme.enable(THEME_NAME)

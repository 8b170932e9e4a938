"""Charts of the scorecard and the drivers model, as unrendered Altair charts.

Each builder takes a result (or a tidy frame) and returns an ``alt.Chart`` (or a layered
or faceted chart); nothing is displayed or saved here, and no theme is set: the report's
house theme styles them.
"""

from __future__ import annotations

import re

import altair as alt
import pandas as pd
from IPython.display import Markdown

from IPython.display import HTML

from outcomes import format as fmt
from outcomes.metrics import catalog
from outcomes.report.text import escape
from outcomes.report.theme import INK, MUTED, PALETTE
from outcomes.scorecard.card import OFF, ON, STATUS_WORDS, Scorecard
from outcomes.scorecard.drivers import OK, DriversResult
from outcomes.scorecard import demand


def _display(metric_id: str, values: pd.Series) -> pd.Series:
    """Values in display units: rates as percentages."""
    return values * 100 if catalog.get(metric_id).is_rate else values


def _unit(metric_id: str) -> str:
    m = catalog.get(metric_id)
    return "%" if m.is_rate else m.unit


#: Tile colours by status: Okabe-Ito hues (distinguishable with colour-vision deficiencies)
#: as a border, a light tint behind dark text, and always the status word and a symbol.
TILE_STYLE: dict[str, tuple[str, str, str]] = {
    ON: ("#009E73", "#e3f4ee", "\u2713"),
    OFF: ("#D55E00", "#fbe8dd", "\u2717"),
}
_TILE_OTHER = ("#7b8794", "#eef0f2", "\u2013")


#: Width of a character of a tile's bold value, in em, taken generously: a value's longest
#: unbreakable piece at this width fills at most the tile's content width.
CHAR_EM = 0.65


def _value_size(text: str) -> str:
    """The CSS font size of a tile's value: 20 px, smaller when its longest piece would not fit the tile.

    A piece is a word, or the part of a unit up to and after its "/", where the value may
    break (:func:`_breakable`): "0.37 reassignments/ticket" keeps the headline size and
    writes "ticket" on the next line, rather than shrinking the number to fit the unit.
    The size is relative to the tile's width (``cqi``), so a phone's narrow tile writes a
    long piece smaller rather than split it.
    """
    longest = max(map(len, re.findall(r"[^\s/]+/?", str(text))), default=1)
    return f"min(20px, calc(100cqi / {CHAR_EM * longest:.2f}))"


def _breakable(text: str) -> str:
    """``text`` escaped, with a line break allowed after each "/" of a unit ("reassignments/ticket")."""
    return "/<wbr>".join(escape(part) for part in str(text).split("/"))


def status_tiles(scorecard: Scorecard) -> HTML:
    """One tile per metric: its name, this month's value, its target and its status word.

    The tiles wrap to the width of the page (one column on a phone). Status is shown by
    colour (Okabe-Ito green, vermillion or grey), a symbol and the word, so no reader
    depends on colour alone. Texts are those of :meth:`Scorecard.formatted`; lines break
    between words (or after the "/" of a unit), never inside a word: a value whose
    longest piece would not fit is written smaller (:func:`_value_size`).

    Returns
    -------
    IPython.display.HTML
        A ``<div class="outcomes-tiles">`` of ``<div class="outcomes-tile">`` blocks.
    """
    shown = scorecard.formatted()
    tiles = []
    for code, (_, row) in zip(scorecard.table["status"], shown.iterrows()):
        border, tint, symbol = TILE_STYLE.get(code, _TILE_OTHER)
        target = f"target {row['target']}" if row["target"] != "n/a" else "no target"
        tiles.append(
            f'<div class="outcomes-tile" style="border-left:6px solid {border};background:{tint};'
            f'color:{INK};padding:8px 10px;border-radius:4px;font-size:14px;line-height:1.35;min-width:0;container-type:inline-size">'
            f'<div style="font-weight:600">{escape(row["metric"])}</div>'
            f'<div style="font-size:{_value_size(row["this month"])};font-weight:600">{_breakable(row["this month"])}</div>'
            f"<div>{_breakable(target)}</div>"
            f'<div style="font-weight:600">{symbol} {escape(row["status"])}</div></div>'
        )
    return HTML(
        '<div class="outcomes-tiles" role="list" style="display:grid;'
        'grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:8px;margin:8px 0">'
        + "".join(t.replace('class="outcomes-tile"', 'class="outcomes-tile" role="listitem"', 1) for t in tiles)
        + "</div>"
    )


def sparklines(scorecard: Scorecard, *, width: int = 150, height: int = 60, columns: int = 3) -> alt.VConcatChart:
    """Sparklines of every metric's monthly history, one block of small multiples per area.

    In each panel the line joins every month with a value (a metric measured every few
    months, such as a survey, still shows all its points), a dashed rule labelled
    "target" marks the target, and the last point is coloured by status and labelled with
    its value. Rates are shown in %.
    """
    trend = scorecard.trend.dropna(subset=["value"]).copy()
    rate = trend["metric"].map(lambda m: catalog.get(m).is_rate)
    trend["shown"] = trend["value"].where(~rate, trend["value"] * 100)
    trend["target_shown"] = trend["target"].where(~rate, trend["target"] * 100)
    trend["label"] = [f"{n} ({_unit(m)})" for n, m in zip(trend["name"], trend["metric"])]
    codes = trend["metric"].map(scorecard.table.set_index("metric")["status"])
    trend["status"] = codes.map(STATUS_WORDS)
    last = trend.groupby("metric")["period"].transform("max")
    trend["is_last"] = trend["period"] == last
    trend["last_text"] = [fmt.significant(v) for v in trend["shown"]]
    # One target rule and label per panel, drawn from the last row. A metric without a
    # target gets an invisible rule and no label at its own level: an empty layer would
    # give its panel an infinite y extent.
    has_target = trend["target_shown"].notna()
    trend["target_y"] = trend["target_shown"].fillna(trend["shown"])
    trend["target_text"] = has_target.map({True: "target", False: ""})
    present = [c for c in STATUS_WORDS if c in set(codes)]
    words = [STATUS_WORDS[c] for c in present]
    colours = [TILE_STYLE.get(c, _TILE_OTHER)[0] for c in present]
    shapes = ["circle" if c == ON else "diamond" if c == OFF else "square" for c in present]
    blocks = []
    for area, title in catalog.load_catalog().areas.items():
        data = trend[trend["area"] == area]
        if data.empty:
            continue
        x = alt.X("period:T", title=None, axis=alt.Axis(format="%y-%m", tickCount=3, labelFontSize=11, grid=False))
        y = alt.Y("shown:Q", title=None, scale=alt.Scale(zero=False), axis=alt.Axis(tickCount=3, labelFontSize=11))
        base = alt.Chart().encode(x=x)
        tooltip = [
            alt.Tooltip("label:N", title="metric"),
            alt.Tooltip("period:T", format="%Y-%m", title="month"),
            alt.Tooltip("shown:Q", format=",.2f", title="value"),
        ]
        line = base.mark_line(point=alt.OverlayMarkDef(size=18, filled=True)).encode(y=y, tooltip=tooltip)
        target = base.mark_rule(strokeDash=[4, 3], color=MUTED).encode(
            y="target_y:Q", x=alt.value(0), x2=alt.value(width),
            opacity=alt.condition("isValid(datum.target_shown)", alt.value(1), alt.value(0)),
        ).transform_filter(alt.datum.is_last)
        target_label = base.mark_text(align="left", baseline="bottom", dx=2, dy=-1, fontSize=11, color=MUTED).encode(
            y="target_y:Q", x=alt.value(0), text="target_text:N"
        ).transform_filter(alt.datum.is_last)
        end = base.mark_point(filled=True, size=60, opacity=1).encode(
            y="shown:Q",
            color=alt.Color("status:N", title="status", scale=alt.Scale(domain=words, range=colours)),
            shape=alt.Shape("status:N", title="status", scale=alt.Scale(domain=words, range=shapes)),
            tooltip=tooltip + [alt.Tooltip("status:N")],
        ).transform_filter(alt.datum.is_last)
        end_label = base.mark_text(align="right", baseline="bottom", dx=-4, dy=-4, fontSize=11, fontWeight=600).encode(
            y="shown:Q", text="last_text:N"
        ).transform_filter(alt.datum.is_last)
        block = (
            alt.layer(line, target, target_label, end, end_label, data=data)
            .properties(width=width, height=height)
            .facet(facet=alt.Facet("label:N", title=None, header=alt.Header(labelFontSize=12, labelLimit=0)), columns=columns, title=title)
            .resolve_scale(y="independent", x="independent")
        )
        blocks.append(block)
    return alt.vconcat(*blocks).resolve_legend(color="shared", shape="shared")


def area_small_multiples(scorecard: Scorecard, area: str, *, columns: int = 4) -> alt.FacetChart:
    """One measurement area's metrics as small multiples (one panel per metric, wrapped)."""
    trend = scorecard.trend[scorecard.trend["area"] == area].copy()
    trend["shown"] = [v * 100 if catalog.get(m).is_rate else v for m, v in zip(trend["metric"], trend["value"])]
    trend["label"] = [f"{n} ({_unit(m)})" for n, m in zip(trend["name"], trend["metric"])]
    return (
        alt.Chart(trend)
        .mark_line(point=True)
        .encode(
            x=alt.X("period:T", title=None, axis=alt.Axis(format="%Y-%m")),
            y=alt.Y("shown:Q", title=None, scale=alt.Scale(zero=False)),
            tooltip=["label:N", alt.Tooltip("period:T", format="%Y-%m"), alt.Tooltip("shown:Q", format=",.2f")],
        )
        .properties(width=180, height=90)
        .facet(facet=alt.Facet("label:N", title=None), columns=columns)
        .resolve_scale(y="independent")
    )


def movers_chart(scorecard: Scorecard) -> alt.Chart:
    """Top movers: standardized change (z) per metric, coloured by better or worse."""
    movers = scorecard.movers.copy()
    movers["direction"] = movers["better"].map({True: "better", False: "worse"})
    return (
        alt.Chart(movers)
        .mark_bar()
        .encode(
            y=alt.Y("name:N", sort=alt.EncodingSortField(field="z", op="max", order="descending"), title=None,
                    axis=alt.Axis(labelLimit=0)),
            x=alt.X("z:Q", title="change / usual monthly change"),
            color=alt.Color("direction:N", scale=alt.Scale(domain=["better", "worse"]), title=None),
            tooltip=["name:N", "sentence:N"],
        )
    )


def drivers_chart(result: DriversResult) -> alt.LayerChart:
    """Drivers coefficients: change in each outcome per unit better on the driver, with intervals.

    Rates are in percentage points; the vertical rule marks no association.
    """
    xm = catalog.get(result.x)
    step = -1.0 if xm.direction == "lower_is_better" else 1.0
    rows = []
    for e in result.estimates:
        if e.status != OK:
            continue
        scale = 100.0 if catalog.get(e.outcome).is_rate else 1.0
        lo, hi = sorted((e.fit.ci_low * step * scale, e.fit.ci_high * step * scale))
        rows.append(
            {
                "outcome": f"{catalog.get(e.outcome).name} ({'pp' if scale == 100 else catalog.get(e.outcome).unit})",
                "estimate": e.fit.estimate * step * scale,
                "low": lo,
                "high": hi,
            }
        )
    data = pd.DataFrame(rows, columns=["outcome", "estimate", "low", "high"])
    title = f"per {xm.unit.rstrip('s')} {'less' if step < 0 else 'more'} of {xm.name.lower()}"
    base = alt.Chart(data).encode(y=alt.Y("outcome:N", title=None, axis=alt.Axis(labelLimit=0)))
    bars = base.mark_rule().encode(x=alt.X("low:Q", title=title), x2="high:Q")
    points = base.mark_point(filled=True, size=60).encode(
        x="estimate:Q", tooltip=["outcome:N", alt.Tooltip("estimate:Q", format="+.2f"), "low:Q", "high:Q"]
    )
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(strokeDash=[4, 4]).encode(x="x:Q")
    return alt.layer(zero, bars, points)


def demand_capacity_frame(panel: pd.DataFrame) -> pd.DataFrame:
    """Tickets opened (demand) and resolved (capacity) per month and service.

    Reads the panel's ``service`` rows of ``ticket_volume`` (demand) and the ``n`` of
    ``demand_capacity_ratio`` (tickets resolved): :func:`outcomes.scorecard.demand.flows`.

    Returns
    -------
    pandas.DataFrame
        ``period``, ``segment``, ``opened``, ``resolved``.

    Raises
    ------
    ValueError
        When the panel has no service rows of both metrics.
    """
    return demand.flows(panel)


#: What the demand and capacity section says when the months hold no ticket.
NO_TICKETS = (
    "No ticket was opened in these months, so there is no demand and capacity to show: "
    "add a tickets export to params/sources.yaml."
)


def _no_tickets(panel: pd.DataFrame) -> bool:
    return panel.loc[panel["metric"] == "ticket_volume", "value"].fillna(0).sum() == 0


def demand_capacity_sentence(panel: pd.DataFrame) -> str:
    """The answer to "Is IT too busy?" in one sentence, from the same data as the chart.

    In the last month of the panel, IT is too busy when it resolved fewer tickets than
    were opened (the queue grew); the sentence gives both totals, the change of the queue
    and the services where demand exceeded capacity (the three largest gaps by name).
    Months without any ticket get a sentence saying the answer is not known (the chart's
    place says why: :data:`NO_TICKETS`).
    """
    if _no_tickets(panel):
        return "Not known: no ticket was opened in these months."
    data = demand_capacity_frame(panel)
    last = data["period"].max()
    month = data[data["period"] == last]
    opened, resolved = float(month["opened"].sum()), float(month["resolved"].sum())
    short = month.assign(gap=month["opened"] - month["resolved"]).query("gap > 0").sort_values("gap", ascending=False)
    when = pd.Timestamp(last).strftime("%Y-%m")
    totals = f"in {when} IT resolved {fmt.count(resolved)} tickets while {fmt.count(opened)} were opened"
    if opened > resolved:
        answer = f"Yes: {totals}, so the queue grew by {fmt.count(opened - resolved)}."
    else:
        answer = f"No: {totals}, so the queue did not grow."
    if short.empty:
        return answer + " No service received more tickets than it resolved."
    names = ", ".join(f"{s} (+{fmt.count(g)})" for s, g in zip(short["segment"].head(3), short["gap"].head(3)))
    more = f" and {len(short) - 3} more" if len(short) > 3 else ""
    return answer + f" Demand exceeded capacity in {len(short)} of {len(month)} services: {names}{more}."


def demand_capacity_chart(panel: pd.DataFrame, *, top: int = 8) -> alt.FacetChart | Markdown:
    """Ticket demand (opened) against capacity (resolved) per month and service.

    Both flows are lines with points, demand solid and capacity dashed, so neither hides
    the other where they coincide; the ``top`` services by demand are shown (see
    :func:`demand_capacity_frame`; :func:`demand_capacity_sentence` gives the answer).
    Months without any ticket get :data:`NO_TICKETS` instead of a chart.
    """
    if _no_tickets(panel):
        return Markdown(NO_TICKETS)
    data = demand_capacity_frame(panel)
    keep = data.groupby("segment")["opened"].sum().nlargest(top).index
    data = data[data["segment"].isin(keep)]
    long = data.melt(id_vars=["period", "segment"], value_vars=["opened", "resolved"], var_name="flow", value_name="tickets")
    flows = ["demand (opened)", "capacity (resolved)"]
    long["flow"] = long["flow"].map({"opened": flows[0], "resolved": flows[1]})
    return (
        alt.Chart(long)
        .mark_line(point=alt.OverlayMarkDef(size=20, filled=True), strokeWidth=2)
        .encode(
            x=alt.X("period:T", title=None, axis=alt.Axis(format="%y-%m", tickCount=4, labelFontSize=11)),
            y=alt.Y("tickets:Q", title="tickets", axis=alt.Axis(tickCount=4, labelFontSize=11)),
            color=alt.Color("flow:N", title=None, scale=alt.Scale(domain=flows, range=[PALETTE[3], PALETTE[0]])),
            strokeDash=alt.StrokeDash("flow:N", title=None, scale=alt.Scale(domain=flows, range=[[1, 0], [5, 3]])),
            tooltip=["segment:N", alt.Tooltip("period:T", format="%Y-%m"), "flow:N", alt.Tooltip("tickets:Q", format=",.0f")],
        )
        .properties(width=160, height=100)
        .facet(facet=alt.Facet("segment:N", title=None, header=alt.Header(labelFontSize=12)), columns=3)
    )

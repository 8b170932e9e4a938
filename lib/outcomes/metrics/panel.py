"""The joint panel: IT delivery and customer outcomes side by side, per month and segment.

:func:`build_panel` computes every requested catalog metric once, in a handful of engine
queries (one per metric family, all segment dimensions stacked in it), and returns a tidy
frame. It is the one input of the scorecard, the drivers model and the ROI work; they
never query the warehouse again. Customer outcomes per IT service come through the
service map (the customers whose region a customer-facing service serves).

:func:`shared_panel` is :func:`build_panel` computed once per report run: the notebooks
of a run that ask for the same panel share one computation (:func:`shared_frame`, stored
with :mod:`outcomes.cache`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from outcomes.metrics import compute, history
from outcomes import cache
from outcomes.metrics.catalog import DIMENSIONS
from outcomes.periods import Month, MonthLike
from outcomes.warehouse import store

PANEL_COLUMNS = compute.TIDY_COLUMNS


def build_panel(
    con: ibis.BaseBackend,
    *,
    start: MonthLike,
    end: MonthLike,
    segment: str = "region",
    metrics: Sequence[str] | None = None,
    min_customers: int = 10,
    requester: compute.Requester = "all",
    history_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Compute the joint panel: every metric per month, for the company and per segment.

    Parameters
    ----------
    con : ibis.BaseBackend
        The warehouse (``outcomes.warehouse.store.connect()``), DuckDB or Spark.
    start, end : str or date
        First and last month, ``"YYYY-MM"``.
    segment : str
        Segment dimension: ``region``, ``customer_segment``, ``channel``, ``service`` (or
        ``all`` for the company only). The company total (``segment_dim == "all"``) is
        always included.
    metrics : sequence of str, optional
        Catalog metric ids; default: all.
    min_customers : int
        Customer metrics resting on fewer units are suppressed (NULL, ``suppressed`` true).
    requester : {"all", "customer", "employee"}
        Whose tickets the ticket metrics count (the drivers model uses customer tickets).
    history_dir : str or Path, optional
        A folder keeping each month's figures across runs (DuckDB only): months whose data
        did not change are read from it (:mod:`outcomes.metrics.history`). The panel is the
        same with or without it.

    Returns
    -------
    pandas.DataFrame
        Tidy: ``period``, ``segment_dim``, ``segment``, ``metric``, ``value``, ``n``,
        ``suppressed``, ``note``. See :func:`outcomes.metrics.compute.compute`.

    Examples
    --------
    >>> from outcomes import warehouse
    >>> panel = build_panel(warehouse.connect(), start="2025-01", end="2025-12")  # doctest: +SKIP
    >>> wide(panel, segment_dim="region").loc[:, ["csat", "first_response_mean_hours"]]  # doctest: +SKIP
    """
    if segment not in DIMENSIONS:
        raise ValueError(f"segment {segment!r} is not a segment dimension; valid: {list(DIMENSIONS)}")
    dims = ("all",) if segment == "all" else ("all", segment)
    if history_dir is not None:
        return history.compute_with_history(
            con, history_dir, start=start, end=end, dims=dims, metrics=metrics, requester=requester, min_customers=min_customers
        )
    return compute.compute(
        con, start=start, end=end, dims=dims, metrics=metrics, requester=requester, min_customers=min_customers
    )


def shared_panel(
    con: ibis.BaseBackend | None = None,
    *,
    start: MonthLike,
    end: MonthLike,
    segment: str = "region",
    metrics: Sequence[str] | None = None,
    min_customers: int = 10,
    requester: compute.Requester = "all",
    engine: str = "duckdb",
    warehouse_path: str | Path | None = None,
    engine_settings: str | Path | None = None,
) -> pd.DataFrame:
    """:func:`build_panel`, computed once per report run and shared by its notebooks.

    During ``outcomes run`` the first notebook asking for a panel computes it and stores
    it in the run's shared folder; a notebook asking for the same panel (same arguments,
    engine and warehouse state) reads it. Outside a run, or when the warehouse cannot be
    stamped, it is :func:`build_panel`. See :mod:`outcomes.cache`. On DuckDB, during a
    run, the months computed by an earlier run whose data did not change are read from
    the run's history folder (:mod:`outcomes.metrics.history`).

    Parameters
    ----------
    con : ibis.BaseBackend, optional
        An open connection to the warehouse on ``engine``, used when the panel must be
        computed; one is opened then when not given (so a panel read from the run's
        shared folder needs no connection, and on Spark no session).
    start, end, segment, metrics, min_customers, requester
        As in :func:`build_panel`.
    engine : {"duckdb", "spark"}
        The engine computing the panel.
    warehouse_path : str or Path, optional
        The DuckDB file; default the project's warehouse.
    engine_settings : str or Path, optional
        The engine settings file; default the project's ``params/engine.yaml``.

    Returns
    -------
    pandas.DataFrame
        Equal to ``build_panel(con, start=..., ...)``.
    """
    return shared_frame(
        build_panel,
        con,
        engine=engine,
        warehouse_path=warehouse_path,
        engine_settings=engine_settings,
        start=start,
        end=end,
        segment=segment,
        metrics=None if metrics is None else list(metrics),
        min_customers=min_customers,
        requester=requester,
    )


def shared_frame(
    build: Callable[..., pd.DataFrame],
    con: ibis.BaseBackend | None = None,
    *,
    engine: str = "duckdb",
    warehouse_path: str | Path | None = None,
    engine_settings: str | Path | None = None,
    **arguments: Any,
) -> pd.DataFrame:
    """``build(con, **arguments)``, computed once per report run and shared.

    Parameters
    ----------
    build : callable
        A function of a warehouse connection and keyword arguments returning a frame
        (:func:`outcomes.metrics.panel.build_panel`, :func:`outcomes.scorecard.drivers.drivers_panel`).
    con : ibis.BaseBackend, optional
        An open connection to that warehouse on that engine, used when the frame must be
        computed; one is opened then when not given.
    engine : {"duckdb", "spark"}
        The engine computing it.
    warehouse_path : str or Path, optional
        The DuckDB file; default the project's warehouse.
    engine_settings : str or Path, optional
        The engine settings file; default the project's ``params/engine.yaml``.
    **arguments
        Passed to ``build``. The key holds every argument of ``build`` with its default
        filled in, and months (``start``, ``end``) as ``YYYY-MM``, so equivalent calls
        share one frame. A ``build`` taking ``history_dir`` gets the run's history folder
        on DuckDB (:func:`outcomes.metrics.history.folder`) unless one is given.

    Returns
    -------
    pandas.DataFrame
    """
    if "history_dir" in inspect.signature(build).parameters and "history_dir" not in arguments:
        # the run's history folder (DuckDB only): unchanged months are read back, the frame is the same
        arguments["history_dir"] = history.folder_for(engine)
    bound = inspect.signature(build).bind(None, **arguments)
    bound.apply_defaults()
    parts = dict(list(bound.arguments.items())[1:])  # every argument but the connection
    for name in ("start", "end"):
        if name in parts:
            parts[name] = str(Month.parse(parts[name]))
    parts = {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in parts.items()}
    parts.update(builder=f"{build.__module__}.{build.__qualname__}", engine=engine)

    def computed() -> tuple[pd.DataFrame, str]:
        if con is not None:
            return build(con, **arguments), con.name
        c = store.connect(warehouse_path, engine=engine, spark_settings=engine_settings)  # type: ignore[arg-type]
        try:
            return build(c, **arguments), c.name
        finally:
            if engine == "duckdb":  # closed here, not when collected: the file may be opened again at once
                c.disconnect()  # (a Spark session is the process's own, shared with the caller's connection)

    describe = f"{build.__name__}({', '.join(f'{k}={v}' for k, v in arguments.items())})"
    source = store.source_stamp(engine, warehouse_path, engine_settings)
    return cache.get_or_compute("panel", parts, computed, cache.FRAME, source=source, describe=describe)


def wide(panel: pd.DataFrame, *, segment_dim: str | None = None, column: str = "value") -> pd.DataFrame:
    """Pivot the tidy panel to one column per metric.

    Parameters
    ----------
    panel : pandas.DataFrame
        Output of :func:`build_panel`.
    segment_dim : str, optional
        Keep only this segment dimension (then the index is ``period`` x ``segment``).
    column : str
        Which tidy column to spread: ``value`` (default) or ``n``.

    Returns
    -------
    pandas.DataFrame
        Indexed by (``segment_dim``,) ``segment``, ``period``; one column per metric, in
        panel order.
    """
    frame = panel if segment_dim is None else panel[panel["segment_dim"] == segment_dim]
    index = ["segment", "period"] if segment_dim is not None else ["segment_dim", "segment", "period"]
    order = list(dict.fromkeys(frame["metric"]))
    out = frame.pivot_table(index=index, columns="metric", values=column, aggfunc="first", dropna=False)
    return out.reindex(columns=order).sort_index()


def series(panel: pd.DataFrame, metric: str, *, segment_dim: str = "all", segment: str = "all") -> pd.Series:
    """One metric's monthly values for one segment, indexed by period."""
    rows = panel[(panel["metric"] == metric) & (panel["segment_dim"] == segment_dim) & (panel["segment"] == segment)]
    return rows.set_index("period")["value"].sort_index()

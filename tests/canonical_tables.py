"""Small warehouses for tests: every canonical table, empty and typed, plus the rows a test gives.

The column types follow :mod:`outcomes.warehouse.datamodel` and the warehouse contract: timestamps
as naive UTC TIMESTAMP, dates and months as DATE, bools as BOOLEAN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from outcomes.warehouse.datamodel import TABLES

_IBIS_TYPES = {
    "string": "string",
    "int": "int64",
    "float": "float64",
    "bool": "boolean",
    "date": "date",
    "timestamp": "timestamp",
    "month": "date",
}


def schema(table: str) -> ibis.Schema:
    """The Ibis schema of a canonical table."""
    return ibis.schema({c.name: _IBIS_TYPES[c.type] for c in TABLES[table].columns})


def frame(table: str, rows: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    """A pandas frame of a canonical table with its columns typed; missing columns are NULL."""
    cols = TABLES[table].columns
    df = pd.DataFrame(rows or [], columns=[c.name for c in cols])
    for c in cols:
        s = df[c.name]
        if c.type in ("timestamp",):
            df[c.name] = pd.to_datetime(s).astype("datetime64[us]")
        elif c.type in ("date", "month"):
            df[c.name] = pd.to_datetime(s).dt.date.astype("object")
        elif c.type == "int":
            df[c.name] = s.astype("Int64")
        elif c.type == "float":
            df[c.name] = s.astype("float64")
        elif c.type == "bool":
            df[c.name] = s.astype("boolean")
        else:
            # None, not NaN: Spark would read a NaN in a string column as the text "NaN"
            df[c.name] = s.astype("object").where(s.notna(), None)
    return df


def make_warehouse(path: Path, **rows: list[dict[str, Any]]) -> ibis.BaseBackend:
    """Create a DuckDB file holding every canonical table, with ``rows[table]`` inserted.

    Parameters
    ----------
    path : Path
        The DuckDB file to create.
    **rows
        Table name -> list of row dicts (canonical column names; absent columns are NULL).

    Returns
    -------
    ibis.BaseBackend
        An open connection to the file.
    """
    unknown = set(rows) - set(TABLES)
    if unknown:
        raise KeyError(f"unknown canonical tables {sorted(unknown)}; tables are {list(TABLES)}")
    con = ibis.duckdb.connect(str(path))
    load(con, rows)
    return con


def load(con: ibis.BaseBackend, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Create every canonical table in ``con`` (any Ibis backend) from ``rows``."""
    for name in TABLES:
        df = frame(name, rows.get(name))
        if con.name == "pyspark":
            _spark_view(con, name, df)
        else:
            con.create_table(name, ibis.memtable(df, schema=schema(name)), overwrite=True)


def _python(value: Any) -> Any:
    """A pandas/numpy scalar as a plain Python value, with every missing value as None."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value.item() if hasattr(value, "item") else value


def _spark_view(con: ibis.BaseBackend, name: str, df: pd.DataFrame) -> None:
    """Register ``df`` as a temporary Spark view with the canonical types and real NULLs.

    Built from Python rows rather than pandas: Spark would keep a pandas NaN as a float
    NaN (not NULL) and nothing is written to Spark's warehouse folder.
    """
    from ibis.backends.pyspark.datatypes import PySparkSchema

    records = [tuple(_python(v) for v in row) for row in df.itertuples(index=False, name=None)]
    sdf = con._session.createDataFrame(records, schema=PySparkSchema.from_ibis(schema(name)))
    sdf.createOrReplaceTempView(name)


def example_rows() -> dict[str, list[dict[str, Any]]]:
    """A tiny company whose metrics are worked out by hand in ``tests/test_metrics.py``.

    January 2025 has tickets, orders, surveys, incidents, deployments and costs; February
    has no tickets at all; in March the last open customer ticket is resolved.
    """
    t = dict(priority="low")
    return {
        "tickets": [
            dict(t, ticket_id="t1", opened_at="2025-01-05 10:00", first_response_at="2025-01-05 12:00",
                 resolved_at="2025-01-06 10:00", requester_type="customer", requester_id="c1", service="web",
                 channel="portal", first_contact_resolved=True, reopened=False, reassignment_count=0,
                 sla_target_hours=48.0),
            dict(t, ticket_id="t2", opened_at="2025-01-10 08:00", first_response_at="2025-01-10 12:00",
                 resolved_at="2025-01-10 14:00", requester_type="customer", requester_id="c2", service="web",
                 channel="phone", first_contact_resolved=False, reopened=True, reassignment_count=2,
                 sla_target_hours=8.0, sla_met=False),
            dict(t, ticket_id="t3", opened_at="2025-01-20 09:00", first_response_at="2025-01-20 15:00",
                 requester_type="employee", requester_id="e1", service="mail", channel="chatbot", region="north",
                 reassignment_count=1),
            dict(t, ticket_id="t4", opened_at="2025-01-31 22:00", resolved_at="2025-03-02 22:00",
                 requester_type="customer", requester_id="c1", service="web", channel="email",
                 first_contact_resolved=False, reopened=False, sla_target_hours=24.0),
        ],
        "customers": [
            dict(customer_id="c1", segment="smb", region="north", signup_date="2024-06-01"),
            dict(customer_id="c2", segment="consumer", region="south", signup_date="2024-12-15"),
            dict(customer_id="c3", segment="smb", region="north", signup_date="2025-01-15"),
            dict(customer_id="c4", segment="consumer", region="south", signup_date="2024-01-01"),
            dict(customer_id="c5", segment="consumer", region="north", signup_date="2024-03-01"),
            dict(customer_id="c6", segment="enterprise", region="west", signup_date="2024-01-01"),
        ],
        "churn": [
            dict(customer_id="c4", churned_at="2025-01-20"),
            dict(customer_id="c5", churned_at="2025-02-10"),
        ],
        "customer_surveys": [
            dict(response_id="s1", customer_id="c1", responded_at="2025-01-07 10:00", kind="csat", score=5),
            dict(response_id="s2", customer_id="c2", responded_at="2025-01-11 10:00", kind="csat", score=3),
            dict(response_id="s3", customer_id="c3", responded_at="2025-01-20 10:00", kind="csat", score=4),
            dict(response_id="s4", customer_id="c1", responded_at="2025-01-08 10:00", kind="nps", score=10),
            dict(response_id="s5", customer_id="c2", responded_at="2025-01-12 10:00", kind="nps", score=7),
            dict(response_id="s6", customer_id="c4", responded_at="2025-01-13 10:00", kind="nps", score=2),
        ],
        "orders": [
            dict(order_id="o1", customer_id="c1", ordered_at="2025-01-03 10:00", revenue=100.0, margin=40.0),
            dict(order_id="o2", customer_id="c2", ordered_at="2025-01-04 10:00", revenue=50.0),
            dict(order_id="o3", customer_id="c1", ordered_at="2025-01-25 10:00", revenue=30.0, margin=10.0),
        ],
        "campaigns": [
            dict(campaign_id="k1", month="2025-01-01", channel="search", region="north", spend=300.0, visits=100,
                 conversions=5),
            dict(campaign_id="k2", month="2025-01-01", channel="social", spend=200.0, visits=300, conversions=3),
        ],
        "it_costs": [
            dict(month="2025-01-01", service="service_desk", cost_line="staff", amount=800.0),
            dict(month="2025-01-01", service="service_desk", cost_line="tools", amount=200.0),
            dict(month="2025-01-01", service="web", cost_line="infrastructure", amount=999.0),
        ],
        "incidents": [
            dict(incident_id="i1", service="web", started_at="2025-01-12 10:00", restored_at="2025-01-12 11:00",
                 outage_minutes=60.0, severity="high"),
            dict(incident_id="i2", service="mail", started_at="2025-01-14 10:00", restored_at="2025-01-14 10:30",
                 outage_minutes=30.0, severity="medium", region="south"),
        ],
        "deployments": [
            dict(deployment_id="d1", service="web", deployed_at="2025-01-02 10:00", lead_time_hours=10.0, failed=False,
                 unplanned=False),
            dict(deployment_id="d2", service="web", deployed_at="2025-01-09 10:00", lead_time_hours=20.0, failed=True,
                 restored_at="2025-01-09 13:00", fixes_deployment="d1"),
            dict(deployment_id="d3", service="mail", deployed_at="2025-01-16 10:00", lead_time_hours=30.0, failed=True,
                 restored_at="2025-01-16 15:00"),
        ],
        "employee_survey": [
            dict(response_id="e1", employee_id="e1", responded_at="2025-01-10 10:00", score=5, region="north"),
            dict(response_id="e2", employee_id="e2", responded_at="2025-01-11 10:00", score=4, region="north"),
            dict(response_id="e3", employee_id="e3", responded_at="2025-01-12 10:00", score=2, region="south"),
        ],
        "ticket_surveys": [
            dict(response_id="r1", ticket_id="t1", respondent_type="customer", submitted_at="2025-01-06 12:00",
                 happiness=10, lost_minutes=30.0),
            dict(response_id="r2", ticket_id="t2", submitted_at="2025-01-11 09:00", happiness=3, lost_minutes=90.0),
            dict(response_id="r3", ticket_id="t3", respondent_type="employee", submitted_at="2025-01-21 10:00",
                 happiness=8, lost_minutes=240.0),
            dict(response_id="r4", ticket_id="t2", respondent_type="customer", submitted_at="2025-02-01 10:00",
                 happiness=9, lost_minutes=120.0),
            dict(response_id="r5", ticket_id="t1", respondent_type="customer", submitted_at="2025-02-02 10:00",
                 happiness=7),
        ],
        "service_map": [
            dict(service="web", journey="buy", capability="sell", region="north", customer_facing=True),
            dict(service="web", journey="buy", capability="sell", region="south", customer_facing=True),
            dict(service="mail", journey="get help", capability="support", region="south", customer_facing=False),
        ],
    }

"""docs/recipes/airflow_outcomes_dag.py: the monthly outcomes report as an Airflow DAG.

Copy into the DAGs folder and set ``OUTCOMES_ROOT`` (the project folder) in the workers'
environment. Three tasks: ingest the exports, run the pack for the month the data interval
starts in, then ``outcomes status --check``, which fails (and sends the ``missing`` event)
when the last complete month has no report.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow import DAG

try:  # Airflow 3 (and 2.x with the standard provider)
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator

ROOT = os.environ.get("OUTCOMES_ROOT", "/srv/outcomes")
OUTCOMES = f"cd {ROOT} && .venv/bin/outcomes"

with DAG(
    dag_id="outcomes_monthly_report",
    schedule="17 6 2 * *",  # 06:17 UTC on the 2nd: the interval that starts on the 2nd of last month ends
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["outcomes"],
) as dag:
    ingest = BashOperator(
        task_id="ingest",
        bash_command=f"{OUTCOMES} ingest --sources params/sources.yaml",
        execution_timeout=timedelta(hours=1),
    )
    run = BashOperator(
        task_id="run",
        bash_command=f"{OUTCOMES} run --period {{{{ data_interval_start.strftime('%Y-%m') }}}}",
        execution_timeout=timedelta(hours=3),
    )
    status_check = BashOperator(
        task_id="status_check",
        bash_command=f"{OUTCOMES} status --check",
        execution_timeout=timedelta(minutes=10),
    )
    ingest >> run >> status_check

"""The ``spark_session`` fixture: one local Spark session per test process, shared by the Spark modules.

Starting Spark (its JVM) and warming it up on a first query take tens of seconds, so every
module running Spark in the test process declares ``pytest_plugins = ["spark_session_plugin"]``
and builds its connection on this one session instead of starting its own. Under
pytest-xdist each worker has its own session, started by the first module that asks for it
on that worker and stopped when the worker ends.

A module that registers its own tables under the canonical names takes
``spark_session.newSession()``: the same JVM and Spark context, with its own temporary
views and SQL settings. ``outcomes.warehouse.store.connect(engine="spark")`` joins the
running session itself (:func:`outcomes.warehouse.spark_backend.spark_session`), so a
module's connection must never be disconnected: that would stop the shared session.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from outcomes.warehouse import spark_backend
from outcomes.warehouse.spark_backend import SparkSettings


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The process's local Spark session: two cores, 1 GB, two shuffle partitions, its catalog in a scratch folder."""
    if shutil.which("java") is None:
        pytest.skip("Java is not installed: Spark needs a Java 17 runtime (apt-get install openjdk-17-jre-headless)")
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -e '.[spark]')")
    scratch = tmp_path_factory.mktemp("spark-session")
    settings = SparkSettings.model_validate(
        {
            "master": "local[2]",
            "driver_memory": "1g",
            "shuffle_partitions": 2,
            "conf": {
                "spark.sql.warehouse.dir": str(scratch / "catalog"),
                "spark.driver.extraJavaOptions": f"-Dderby.system.home={scratch}",
            },
        }
    )
    session = spark_backend.spark_session(settings)
    yield session
    session.stop()

"""The warehouse: the canonical data model, its schemas, the embedded DuckDB file and the Spark engine."""

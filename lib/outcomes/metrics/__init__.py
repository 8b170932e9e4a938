"""Metrics: the catalog of metric definitions, their computation in the engine, and the joint panel."""

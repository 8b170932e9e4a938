"""Ingest: exports mapped onto the canonical tables, checked row by row and loaded into the warehouse."""

"""Case studies on public data: analyses that depend on the core and never the reverse."""

"""The scorecard: where each metric stands against its target, and how IT delivery goes with customer outcomes."""

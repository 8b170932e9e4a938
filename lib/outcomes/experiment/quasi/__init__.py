"""Quasi-experiments: difference-in-differences, interrupted time series and their placebo checks."""

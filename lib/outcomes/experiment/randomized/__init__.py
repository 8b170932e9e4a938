"""Randomized tests: effects, intervals and checks from per-arm sufficient statistics."""

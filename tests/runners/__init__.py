"""Tests of supervisor/runners/: the pool, one runner's states, limits, outcomes, rows, privileges."""

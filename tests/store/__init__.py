"""Tests of supervisor/store/: what the database thread runs (the claim's plans)."""

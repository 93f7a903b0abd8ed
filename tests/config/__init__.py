"""Tests of supervisor/config/: loading, rules, retry policies."""

"""Tests of supervisor/ops/: the operator's tools behind the CLI."""

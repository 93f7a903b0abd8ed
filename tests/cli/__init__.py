"""Tests of supervisor/cli/: the `jobsup` command."""

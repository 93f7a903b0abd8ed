"""Tests of supervisor/loop/: the supervisor's loop, signals, claim timing, recovery."""

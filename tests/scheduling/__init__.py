"""Tests of supervisor/scheduling/: periodic slots and pauses."""

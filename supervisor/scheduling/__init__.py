"""Schedules and pauses: periodic slots, their rows (periodic_store), paused job types."""

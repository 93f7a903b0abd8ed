"""The supervisor's one loop and its parts: the turn, the database thread, signals, timing."""

from supervisor.loop.supervisor import RunOptions, Supervisor

__all__ = ["RunOptions", "Supervisor"]

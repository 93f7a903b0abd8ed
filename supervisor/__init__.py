"""The parent side of jobsup: config, database, claim and reclaim, the main loop, the CLI."""

__version__ = "0.1.0"

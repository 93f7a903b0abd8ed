"""The operator's tools behind cli/ and web/: start/stop/status, reports, job admin."""

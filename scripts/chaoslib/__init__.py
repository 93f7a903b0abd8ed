"""scripts/chaos.py's parts: the check, the faults, the hosts, PostgreSQL, the proxy, the
supervisors and the watcher."""

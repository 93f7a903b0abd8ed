"""The parent side of jobsup: config, database, claim and reclaim, the main loop, the CLI.

Flat on purpose: some fifty small modules, each named for what it holds, import each other
by name (`tests/test_layout.py` keeps them free of cycles, and `runner/` free of them);
only a surface with modules of its own is a package (`cli/`, `web/`, `sql/`). The rooms:

- the loop and its parts: loop (the turn), pool (runners: start, read, reap), runner_state
  (one runner's state machine), spawn (the fork server's parent end), launch (a job's spec
  and limits), outcome (judge an ending, conclude the row to write), claim_timing (when to
  claim next), limits, proctree, signals, upkeep (heartbeat, reclaim), turn and writeback
  (write outcomes, then claim), jobrow (row to job), handler_modules, runenv, privileges
- the database: database (its thread), db (connections), store and queries (the loop's
  SQL), schema (migrations), embedded (the embedded PostgreSQL), notify
- operators: cli/, web/, control (start/stop/status), report (ps, stats), job_admin (jobs
  list/show/retry/cancel), enqueue, health, metrics, telemetry, systemd, daemon, pidfile
- scheduling: periodic (slots of a schedule) and periodic_store, pauses, caps
  (max_running), retry_policy (a job type's retries)
- applications: api (the Python API, exported from one place), enqueue (enqueue,
  enqueue_many), results (wait for jobs), appconn (a psycopg2 or psycopg 3 connection)
- shared: config and config_rules, identity (who this supervisor is), logs, durations,
  errors, statedir
"""

__version__ = "0.1.0"

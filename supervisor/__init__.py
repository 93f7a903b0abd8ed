"""The parent side of jobsup: config, database, claim and reclaim, the main loop, the CLI.

Rooms as folders, importing each other one way (bottom first: db, scheduling, config,
runners, store, ops, web, loop, cli; client rests on db and the leaves). One line a room,
its modules first (`tests/test_layout.py` checks this map against the tree):

- loop/ supervisor session claims heartbeat database signals claim_timing telemetry talk
  drain reload lifecycle dashboard kept_outcomes write_refusal: the one loop, the connection's
  life, write-and-claim, heartbeat and lease, its thread, stop, reload, start, the outcomes
  kept on disk through a stop, a database that refuses writes (no ops/, cli/ or web/ beneath
  it)
- runners/ pool state launch jobrow outcome limits proctree runenv privileges
  handler_modules preflight messages: the parent end of the fork boundary (its client of
  the fork server, shared with runner/testing.py, is runner/parent.py)
- store/ write_and_claim writeback upkeep statements retention history: what the database
  thread runs
- db/ connect queries schema: connections, named statements, migrations
- scheduling/ periodic periodic_store pauses: schedules' slots, paused job types
- config/ model load rules flow: the TOML file to a frozen Config (caps, rate limits,
  retry policy), checked
- client/ enqueue edges batch wait appconn tracing: what an application calls, behind api
- ops/ control report job_admin pipeline embedded pidfile daemon systemd healthcheck: the
  operator's tools
- cli/ web/: the operator's surfaces; sql/: the statements and migrations
- (leaves) api errors logs identity durations statedir metrics health sd_notify listen:
  shared
"""

__version__ = "0.1.0"

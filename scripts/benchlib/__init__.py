"""scripts/bench*.py's parts. Kept empty: the fork server of a benchmark preloads
benchlib.handlers, and must not import psycopg2 or the supervisor with it."""

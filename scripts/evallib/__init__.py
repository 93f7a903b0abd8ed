"""scripts/eval_insights.py's library: the corpus, running the job, re-deriving figures (truth),
checking claims (claims, misleading, noise), and the report.

Imported as `evallib` by scripts/eval_insights.py, whose directory Python puts on sys.path."""

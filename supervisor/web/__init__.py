"""The dashboard, `jobsup web`: server-rendered pages over the same database and the same
queries as the command line (`ps`, `stats`, `jobs …`), and the same actions.

`app` builds the Starlette application, `pages` what each page shows, `charts` the geometry
of its inline SVG, `insights` a job's insights as its page shows them, `insight_charts` the
chart of each, `present` how values read, `security` the operator token and CSRF,
`server` runs it under uvicorn, `process` runs it as a child of `jobsup start`.
"""

DEFAULT_LISTEN = "127.0.0.1:8080"

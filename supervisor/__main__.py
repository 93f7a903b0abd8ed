"""`python -m supervisor` is the `jobsup` command."""

from supervisor.cli import main

main()

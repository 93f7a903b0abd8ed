"""Tests of runner/, the child side: the fork server, the runner, the handler test helper."""

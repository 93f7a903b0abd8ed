"""Tests of supervisor/db/: connections and the schema's migrations."""

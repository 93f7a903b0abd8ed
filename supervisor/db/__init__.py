"""The database: connections (connect), the named statements (queries), migrations (schema)."""

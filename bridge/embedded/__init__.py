"""The embedded PostgreSQL's operations: one owner per state_dir, authentication, supervision."""

"""What directory lookups read: the store protocol, the PostgreSQL store and its batcher, the
extension cache in front of it, and what keeps that cache true (NOTIFY invalidation, warm-up,
FreeSWITCH's own cache flushed per node)."""

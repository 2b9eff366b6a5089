-- Each instance reads only the ban rows changed since its last poll (bridge/guard/store.py):
-- every write sets changed_at = clock_timestamp(); a poll asks for changed_at after its
-- previous one (less a margin longer than a write may take, so a slow commit is not missed).
-- Adds a column and an index to bridge's own table: safe on an existing XUI database.

ALTER TABLE guard_bans ADD COLUMN IF NOT EXISTS changed_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp();

CREATE INDEX IF NOT EXISTS guard_bans_changed_at ON guard_bans (changed_at);

-- The standby mirror reads only what changed (bridge/registrations/persist.py): each write
-- transaction of a node bumps the node's version in bridge_esl_nodes (the row it already
-- locks, so a node's versions commit in order, across a hand-over too) and stamps the rows
-- it writes with it; a deleted binding leaves its token and version in
-- bridge_registration_removals, purged after freeswitch.removals_kept seconds, with the
-- highest version purged kept as the node's purged_through (a mirror that read the node
-- before that reads it whole). Rows from before this migration have version 0: a mirror
-- that never read a node reads it whole. Adds columns and a table of bridge's own only.

ALTER TABLE bridge_esl_nodes ADD COLUMN IF NOT EXISTS version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE bridge_esl_nodes ADD COLUMN IF NOT EXISTS purged_through BIGINT NOT NULL DEFAULT 0;

ALTER TABLE bridge_registrations ADD COLUMN IF NOT EXISTS version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS bridge_registrations_version ON bridge_registrations (node, version);

CREATE TABLE IF NOT EXISTS bridge_registration_removals (
    node       TEXT NOT NULL,
    token      TEXT NOT NULL,
    version    BIGINT NOT NULL,
    removed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (node, token)
);
CREATE INDEX IF NOT EXISTS bridge_registration_removals_version
    ON bridge_registration_removals (node, version);

-- Which extensions each writing transaction changed, by id, so the admin API brings its
-- in-memory lists up to date by re-reading those rows only, not every extension of every
-- domain (api/catalog_store.py; docs/admin-api.md, "How status filters and lists are answered").
-- sql/021 stays the staleness probe (which transactions wrote); this is what they changed.
--
-- Statement-level triggers with transition tables: one INSERT ... SELECT per statement, so
-- a bulk import adds one statement, not one per row. An UPDATE logs only the ids whose
-- (id, extn, domain, live) changed: a password edit logs nothing here. TRUNCATE cannot
-- name its rows: it marks its transaction in bridge_extension_changes (truncated), and a
-- reader that meets the mark reads everything again.
--
-- Pruning (transactions older than a day, by the API) deletes their rows of both tables
-- (here by xid: a bulk import leaves a row per extension) and records the highest pruned xid in bridge_extension_changes_pruned, in one transaction: a reader whose
-- snapshot's xmin is not above it may have lost a row and reads everything again, so the
-- incremental path is exact whatever the age of a transaction.

CREATE TABLE IF NOT EXISTS bridge_extension_changed_ids (
    xid         XID8 NOT NULL,
    id          INTEGER NOT NULL,
    PRIMARY KEY (xid, id)
);

ALTER TABLE bridge_extension_changes ADD COLUMN IF NOT EXISTS truncated BOOLEAN NOT NULL DEFAULT false;

CREATE TABLE IF NOT EXISTS bridge_extension_changes_pruned (
    one     BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
    below   XID8 NOT NULL
);

CREATE OR REPLACE FUNCTION bridge_extension_ids_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO bridge_extension_changed_ids (xid, id)
        SELECT pg_current_xact_id(), id FROM new_rows
        ON CONFLICT DO NOTHING;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO bridge_extension_changed_ids (xid, id)
        SELECT pg_current_xact_id(), id FROM old_rows
        ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO bridge_extension_changed_ids (xid, id)
        SELECT DISTINCT pg_current_xact_id(), id FROM (
            (SELECT id, extn, domain, deleted_at IS NULL FROM new_rows
             EXCEPT SELECT id, extn, domain, deleted_at IS NULL FROM old_rows)
            UNION ALL
            (SELECT id, extn, domain, deleted_at IS NULL FROM old_rows
             EXCEPT SELECT id, extn, domain, deleted_at IS NULL FROM new_rows)
        ) changed
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION bridge_extension_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bridge_extension_changes (xid, truncated) VALUES (pg_current_xact_id(), true)
    ON CONFLICT (xid) DO UPDATE SET truncated = true;
    RETURN NULL;
END;
$$;

-- A trigger with transition tables takes one event and no column list (CREATE TRIGGER).
DROP TRIGGER IF EXISTS bridge_extension_ids_inserted ON extensions;
CREATE TRIGGER bridge_extension_ids_inserted
    AFTER INSERT ON extensions REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_extension_ids_changed();
DROP TRIGGER IF EXISTS bridge_extension_ids_updated ON extensions;
CREATE TRIGGER bridge_extension_ids_updated
    AFTER UPDATE ON extensions REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_extension_ids_changed();
DROP TRIGGER IF EXISTS bridge_extension_ids_deleted ON extensions;
CREATE TRIGGER bridge_extension_ids_deleted
    AFTER DELETE ON extensions REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_extension_ids_changed();
DROP TRIGGER IF EXISTS bridge_extension_truncated ON extensions;
CREATE TRIGGER bridge_extension_truncated
    AFTER TRUNCATE ON extensions
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_extension_truncated();

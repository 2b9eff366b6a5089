-- Which transactions changed the set of live extensions, so the admin API can keep the
-- id-ordered list of (id, extn, domain) in memory and learn with one index probe whether a
-- write committed after the snapshot it loaded (README.md, "How status filters and lists are answered").
--
-- One row per writing transaction (its xid8), inserted by a statement-level trigger in the
-- writer's own transaction: it becomes visible exactly when the write commits. Inserts of
-- distinct keys never wait on each other, so unlike a shared counter row this serialises no
-- XUI writers and cannot deadlock them. A reader that loaded at snapshot S is stale iff a row
-- exists with xid >= pg_snapshot_xmin(S) that S does not see. Rows older than a day are pruned
-- by the API when it reloads (and it reloads at least hourly whatever the log says).
-- Needs PostgreSQL 13+ (xid8, pg_current_xact_id). Adds no columns and changes no XUI data.
-- No new index on extensions: the list is read in id order by its primary key, and pages
-- are read by id (= ANY), so no count(*) or OFFSET runs in PostgreSQL any more.

CREATE TABLE IF NOT EXISTS bridge_extension_changes (
    xid         XID8 PRIMARY KEY,
    changed_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION bridge_extension_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bridge_extension_changes (xid) VALUES (pg_current_xact_id()) ON CONFLICT (xid) DO NOTHING;
    RETURN NULL;
END;
$$;

-- Only what the in-memory list holds: which rows are live, and their id, extn and domain.
-- UPDATE OF fires when a column is in the SET list, changed or not (a spurious reload, never a miss).
DROP TRIGGER IF EXISTS bridge_extension_changed ON extensions;
CREATE TRIGGER bridge_extension_changed
    AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF id, extn, domain, deleted_at ON extensions
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_extension_changed();


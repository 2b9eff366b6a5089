-- XUI groups (tests/fixtures/xui/xui-rest-api.zh.txt, "分组管理"): the `groups` table with
-- every column the document's table lists (+ deleted_at, which its examples and its
-- "更新分组信息" table show), and the two member tables its answers imply.
--
-- The document names no member table: `group_members` (users in a user group,
-- group_type 0) and `group_extns` (extensions in an extension group, group_type 1) are
-- bridge's names, their columns the keys of GET /api/groups/:id/members and
-- GET /api/groups/:id/extns (the membership's id, group_id, user_id or extn_id, sort).
-- groups.group_id (the parent) is a string in the document's table; kept so.
-- CREATE ... IF NOT EXISTS: pointed at an existing XUI database this changes no data.

CREATE TABLE IF NOT EXISTS groups (
    id          SERIAL PRIMARY KEY,
    name        VARCHAR NOT NULL,
    description VARCHAR,
    sort        INTEGER,
    realm       VARCHAR,
    level       INTEGER DEFAULT 0,
    group_id    VARCHAR,
    group_type  INTEGER DEFAULT 0,
    created_at  TIMESTAMP(0) DEFAULT now(),
    updated_at  TIMESTAMP(0) DEFAULT now(),
    deleted_at  TIMESTAMP(0)
);

CREATE TABLE IF NOT EXISTS group_members (
    id          SERIAL UNIQUE,
    group_id    INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sort        INTEGER DEFAULT 0,
    created_at  TIMESTAMP(0) DEFAULT now(),
    PRIMARY KEY (group_id, user_id)
);

CREATE TABLE IF NOT EXISTS group_extns (
    id          SERIAL UNIQUE,
    group_id    INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    extn_id     INTEGER NOT NULL REFERENCES extensions(id) ON DELETE CASCADE,
    sort        INTEGER DEFAULT 0,
    created_at  TIMESTAMP(0) DEFAULT now(),
    PRIMARY KEY (group_id, extn_id)
);

CREATE INDEX IF NOT EXISTS bridge_group_extns_extn_idx ON group_extns (extn_id);
CREATE INDEX IF NOT EXISTS bridge_groups_realm_name_idx ON groups (realm, name);

-- Every (group, extension) pair a group rings: its extension members and its user members'
-- extensions.
CREATE OR REPLACE VIEW bridge_group_extension_ids AS
    SELECT group_id, extn_id FROM group_extns
    UNION
    SELECT m.group_id, e.id FROM group_members m JOIN extensions e ON e.user_id = m.user_id;

-- A membership change is a directory change of the member extensions (group_call answers
-- are built from these tables): announced on `bridge_directory` like any extension change
-- (sql/030), so cached whole answers are dropped and, with directory.fs_cacheable_ms,
-- FreeSWITCH's copies of those users flushed.
CREATE OR REPLACE FUNCTION bridge_directory_group_extns_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    keys jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT jsonb_agg(DISTINCT jsonb_build_array(coalesce(e.domain, ''), e.extn)) INTO keys
        FROM new_rows m JOIN extensions e ON e.id = m.extn_id;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT jsonb_agg(DISTINCT jsonb_build_array(coalesce(e.domain, ''), e.extn)) INTO keys
        FROM (SELECT extn_id FROM old_rows UNION SELECT extn_id FROM new_rows) AS m
        JOIN extensions e ON e.id = m.extn_id;
    ELSE
        SELECT jsonb_agg(DISTINCT jsonb_build_array(coalesce(e.domain, ''), e.extn)) INTO keys
        FROM old_rows m JOIN extensions e ON e.id = m.extn_id;
    END IF;
    PERFORM bridge_directory_notify_keys(keys);
    RETURN NULL;
END;
$$;

-- A user's membership of a user group: its extensions ring in group_call (bridge/directory/groups.py).
CREATE OR REPLACE FUNCTION bridge_directory_group_members_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    keys jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT jsonb_agg(DISTINCT jsonb_build_array(coalesce(e.domain, ''), e.extn)) INTO keys
        FROM new_rows m JOIN extensions e ON e.user_id = m.user_id;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT jsonb_agg(DISTINCT jsonb_build_array(coalesce(e.domain, ''), e.extn)) INTO keys
        FROM (SELECT user_id FROM old_rows UNION SELECT user_id FROM new_rows) AS m
        JOIN extensions e ON e.user_id = m.user_id;
    ELSE
        SELECT jsonb_agg(DISTINCT jsonb_build_array(coalesce(e.domain, ''), e.extn)) INTO keys
        FROM old_rows m JOIN extensions e ON e.user_id = m.user_id;
    END IF;
    PERFORM bridge_directory_notify_keys(keys);
    RETURN NULL;
END;
$$;

-- A group renamed, moved to another realm or deleted changes the group_call answers of
-- its extension members.
CREATE OR REPLACE FUNCTION bridge_directory_groups_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    keys jsonb;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        SELECT jsonb_agg(DISTINCT jsonb_build_array(coalesce(e.domain, ''), e.extn)) INTO keys
        FROM old_rows o
        JOIN new_rows n ON n.id = o.id
        JOIN bridge_group_extension_ids x ON x.group_id = n.id
        JOIN extensions e ON e.id = x.extn_id
        WHERE (o.name, o.realm, o.group_type, o.deleted_at)
              IS DISTINCT FROM (n.name, n.realm, n.group_type, n.deleted_at);
    ELSE
        SELECT jsonb_agg(DISTINCT jsonb_build_array(coalesce(e.domain, ''), e.extn)) INTO keys
        FROM old_rows o JOIN bridge_group_extension_ids x ON x.group_id = o.id
        JOIN extensions e ON e.id = x.extn_id;
    END IF;
    PERFORM bridge_directory_notify_keys(keys);
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS bridge_directory_ins ON group_extns;
CREATE TRIGGER bridge_directory_ins AFTER INSERT ON group_extns
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_directory_group_extns_changed();
DROP TRIGGER IF EXISTS bridge_directory_upd ON group_extns;
CREATE TRIGGER bridge_directory_upd AFTER UPDATE ON group_extns
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_directory_group_extns_changed();
DROP TRIGGER IF EXISTS bridge_directory_del ON group_extns;
CREATE TRIGGER bridge_directory_del AFTER DELETE ON group_extns
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_directory_group_extns_changed();
DROP TRIGGER IF EXISTS bridge_directory_trunc ON group_extns;
CREATE TRIGGER bridge_directory_trunc AFTER TRUNCATE ON group_extns
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_directory_truncated();

DROP TRIGGER IF EXISTS bridge_directory_ins ON group_members;
CREATE TRIGGER bridge_directory_ins AFTER INSERT ON group_members
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_directory_group_members_changed();
DROP TRIGGER IF EXISTS bridge_directory_upd ON group_members;
CREATE TRIGGER bridge_directory_upd AFTER UPDATE ON group_members
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_directory_group_members_changed();
DROP TRIGGER IF EXISTS bridge_directory_del ON group_members;
CREATE TRIGGER bridge_directory_del AFTER DELETE ON group_members
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_directory_group_members_changed();
DROP TRIGGER IF EXISTS bridge_directory_trunc ON group_members;
CREATE TRIGGER bridge_directory_trunc AFTER TRUNCATE ON group_members
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_directory_truncated();

DROP TRIGGER IF EXISTS bridge_directory_upd ON groups;
CREATE TRIGGER bridge_directory_upd AFTER UPDATE ON groups
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_directory_groups_changed();
DROP TRIGGER IF EXISTS bridge_directory_del ON groups;
CREATE TRIGGER bridge_directory_del AFTER DELETE ON groups
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_directory_groups_changed();
DROP TRIGGER IF EXISTS bridge_directory_trunc ON groups;
CREATE TRIGGER bridge_directory_trunc AFTER TRUNCATE ON groups
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_directory_truncated();

-- No membership points at a deleted row: a soft delete (deleted_at set, XUI's delete, by
-- bridge or by XUI itself) removes the extension's or the user's memberships; a hard delete
-- cascades. Transition tables cannot go with a column list, so this runs on every UPDATE
-- statement and only looks at rows whose deleted_at is set.
CREATE OR REPLACE FUNCTION bridge_group_extns_of_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM group_extns m USING new_rows n
    WHERE m.extn_id = n.id AND n.deleted_at IS NOT NULL;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION bridge_group_members_of_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM group_members m USING new_rows n
    WHERE m.user_id = n.id AND n.deleted_at IS NOT NULL;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS bridge_group_memberships ON extensions;
CREATE TRIGGER bridge_group_memberships AFTER UPDATE ON extensions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_group_extns_of_deleted();
DROP TRIGGER IF EXISTS bridge_group_memberships ON users;
CREATE TRIGGER bridge_group_memberships AFTER UPDATE ON users
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_group_members_of_deleted();

-- Directory cache invalidation: every change to `extensions` or `users`, made by anyone
-- (XUI, psql, another bridge), is announced on the channel `bridge_directory` so every
-- bridge instance drops the affected cache entries within a second.
--
-- Statement-level triggers with transition tables: a bulk UPDATE of 100,000 rows runs the
-- function once, not 100,000 times. The payload is JSON:
--     {"k": [["xswitch.test", "1001"], ["xswitch.test", "1002"], ...]}   these (domain, extn)
--     {"all": true}                                                    everything (TRUNCATE,
--                                                                      or too many keys)
-- A NOTIFY payload must stay under 8000 bytes, so keys are sent in chunks of at most
-- ~7000 bytes; a statement touching more than 5,000 keys sends {"all": true} instead
-- (cheaper for the listeners than tens of chunks, and a bulk import is rare).
-- Adds no columns and changes no data: safe on an existing XUI database.

CREATE OR REPLACE FUNCTION bridge_directory_notify_keys(keys jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    key jsonb;
    chunk text := '';
    piece text;
BEGIN
    IF keys IS NULL OR jsonb_array_length(keys) = 0 THEN
        RETURN;
    END IF;
    IF jsonb_array_length(keys) > 5000 THEN
        PERFORM pg_notify('bridge_directory', '{"all": true}');
        RETURN;
    END IF;
    FOR key IN SELECT value FROM jsonb_array_elements(keys) LOOP
        piece := key::text;
        IF octet_length(piece) > 7000 THEN
            PERFORM pg_notify('bridge_directory', '{"all": true}');
            RETURN;
        END IF;
        IF chunk <> '' AND octet_length(chunk) + octet_length(piece) > 7000 THEN
            PERFORM pg_notify('bridge_directory', '{"k": [' || chunk || ']}');
            chunk := '';
        END IF;
        chunk := CASE WHEN chunk = '' THEN piece ELSE chunk || ', ' || piece END;
    END LOOP;
    IF chunk <> '' THEN
        PERFORM pg_notify('bridge_directory', '{"k": [' || chunk || ']}');
    END IF;
END;
$$;

-- extensions: the old and the new (domain, extn) of every row touched.
CREATE OR REPLACE FUNCTION bridge_directory_extensions_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    keys jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT jsonb_agg(DISTINCT jsonb_build_array(coalesce(domain, ''), extn)) INTO keys FROM new_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT jsonb_agg(DISTINCT k) INTO keys FROM (
            SELECT jsonb_build_array(coalesce(domain, ''), extn) AS k FROM old_rows
            UNION SELECT jsonb_build_array(coalesce(domain, ''), extn) FROM new_rows
        ) AS touched;
    ELSE
        SELECT jsonb_agg(DISTINCT jsonb_build_array(coalesce(domain, ''), extn)) INTO keys FROM old_rows;
    END IF;
    PERFORM bridge_directory_notify_keys(keys);
    RETURN NULL;
END;
$$;

-- users: the extensions owned by every user whose login or authentication state changed
-- (a failed login bumps login_attempts: that changes no directory answer, so no notify).
CREATE OR REPLACE FUNCTION bridge_directory_users_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    keys jsonb;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        SELECT jsonb_agg(DISTINCT jsonb_build_array(coalesce(e.domain, ''), e.extn)) INTO keys
        FROM old_rows o
        JOIN new_rows n ON n.id = o.id
        JOIN extensions e ON e.user_id = n.id
        WHERE (o.login, o.disabled, o.is_locked, o.deleted_at)
              IS DISTINCT FROM (n.login, n.disabled, n.is_locked, n.deleted_at);
    ELSE
        -- DELETE: the extensions go too (ON DELETE CASCADE) and announce themselves;
        -- this covers XUI databases whose foreign key has no cascade.
        SELECT jsonb_agg(DISTINCT jsonb_build_array(coalesce(e.domain, ''), e.extn)) INTO keys
        FROM old_rows o JOIN extensions e ON e.user_id = o.id;
    END IF;
    PERFORM bridge_directory_notify_keys(keys);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION bridge_directory_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bridge_directory', '{"all": true}');
    RETURN NULL;
END;
$$;

-- A trigger with transition tables handles one event, hence one trigger per event.
DROP TRIGGER IF EXISTS bridge_directory_ins ON extensions;
CREATE TRIGGER bridge_directory_ins AFTER INSERT ON extensions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_directory_extensions_changed();
DROP TRIGGER IF EXISTS bridge_directory_upd ON extensions;
CREATE TRIGGER bridge_directory_upd AFTER UPDATE ON extensions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_directory_extensions_changed();
DROP TRIGGER IF EXISTS bridge_directory_del ON extensions;
CREATE TRIGGER bridge_directory_del AFTER DELETE ON extensions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_directory_extensions_changed();
DROP TRIGGER IF EXISTS bridge_directory_trunc ON extensions;
CREATE TRIGGER bridge_directory_trunc AFTER TRUNCATE ON extensions
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_directory_truncated();

DROP TRIGGER IF EXISTS bridge_directory_upd ON users;
CREATE TRIGGER bridge_directory_upd AFTER UPDATE ON users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_directory_users_changed();
DROP TRIGGER IF EXISTS bridge_directory_del ON users;
CREATE TRIGGER bridge_directory_del AFTER DELETE ON users
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_directory_users_changed();
DROP TRIGGER IF EXISTS bridge_directory_trunc ON users;
CREATE TRIGGER bridge_directory_trunc AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION bridge_directory_truncated();

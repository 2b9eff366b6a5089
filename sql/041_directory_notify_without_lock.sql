-- users.is_locked is the web login's lock (docs/admin-api-security.md): it changes no
-- directory answer any more, and anonymous failed logins set it. So a lock or an unlock no
-- longer notifies the directory caches (and, with directory.fs_cacheable_ms, no longer makes
-- bridge send xml_flush_cache to every FreeSWITCH node). Same function as sql/030 otherwise.
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
        WHERE (o.login, o.disabled, o.deleted_at)
              IS DISTINCT FROM (n.login, n.disabled, n.deleted_at);
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

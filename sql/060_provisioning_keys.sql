-- Provisioning (docs/provisioning.md): one live extension number per domain, and one live
-- login, enforced by PostgreSQL itself so no writer (bridge, XUI, psql) can race another
-- into a duplicate. Partial unique indexes over live rows only: a deleted row (deleted_at
-- set, as XUI deletes) keeps its number and frees it for a new extension.
--
-- Adds indexes only, never changes a row. An existing XUI database that already holds
-- duplicates cannot take the index: the migration then warns and leaves that index out
-- (bridge's own writes still refuse duplicates, serialised by an advisory lock per domain,
-- see bridge/api/writes.py); remove the duplicates and run `bridge db upgrade` of a later
-- release, or create the index by hand with the statement below.

DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM extensions WHERE deleted_at IS NULL
        GROUP BY domain, extn HAVING count(*) > 1
    ) THEN
        RAISE WARNING 'extensions hold duplicate live (domain, extn) rows: bridge_extensions_live_key not created';
    ELSE
        CREATE UNIQUE INDEX IF NOT EXISTS bridge_extensions_live_key
            ON extensions (domain, extn) WHERE deleted_at IS NULL;
    END IF;
    IF EXISTS (
        SELECT 1 FROM users WHERE deleted_at IS NULL GROUP BY login HAVING count(*) > 1
    ) THEN
        RAISE WARNING 'users hold duplicate live logins: bridge_users_live_login not created';
    ELSE
        CREATE UNIQUE INDEX IF NOT EXISTS bridge_users_live_login
            ON users (login) WHERE deleted_at IS NULL;
    END IF;
END;
$$;

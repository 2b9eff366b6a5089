-- A password change or reset ends what the old password opened (docs/admin-api-security.md).
-- In the database, so every way a password changes ends them: bridge's own API, XUI
-- writing to the same tables, a hand-typed UPDATE.
--
-- * users.sha1 / salt / password (the web password) changed: the user's sessions and the
--   developer keys made from them (rights 'user') are deleted, but for the token whose
--   SHA-256 (hex) the changing transaction names in bridge.keep_token (the session of a
--   user changing their own password, old password given: bridge/api/auth.py). Keys made
--   from an extension's SIP credentials do not hang on the web password and stay.
-- * extensions.password changed, the extension given to another user, or deleted: the
--   keys made from its SIP credentials are deleted.

CREATE OR REPLACE FUNCTION bridge_tokens_user_password_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM bridge_api_tokens
    WHERE user_id = NEW.id AND rights = 'user'
      AND encode(token_sha256, 'hex') IS DISTINCT FROM current_setting('bridge.keep_token', true);
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS bridge_tokens_user_password ON users;
CREATE TRIGGER bridge_tokens_user_password
    AFTER UPDATE OF sha1, salt, password ON users
    FOR EACH ROW
    WHEN ((OLD.sha1, OLD.salt, OLD.password) IS DISTINCT FROM (NEW.sha1, NEW.salt, NEW.password))
    EXECUTE FUNCTION bridge_tokens_user_password_changed();

CREATE OR REPLACE FUNCTION bridge_tokens_extension_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM bridge_api_tokens WHERE extension_id = NEW.id;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS bridge_tokens_extension_password ON extensions;
CREATE TRIGGER bridge_tokens_extension_password
    AFTER UPDATE OF password, user_id, deleted_at ON extensions
    FOR EACH ROW
    WHEN ((OLD.password, OLD.user_id, OLD.deleted_at) IS DISTINCT FROM (NEW.password, NEW.user_id, NEW.deleted_at))
    EXECUTE FUNCTION bridge_tokens_extension_changed();

CREATE INDEX IF NOT EXISTS bridge_api_tokens_extension_idx ON bridge_api_tokens (extension_id)
    WHERE extension_id IS NOT NULL;

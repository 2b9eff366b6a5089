-- Login limits and token scopes (docs/admin-api-security.md). bridge's own tables only.
--
-- * ttl_seconds: each session expires by the lifetime it was issued with, whatever
--   api.token_ttl the instance that reads it has. Sessions issued before this migration
--   get the default (one day); developer keys have none (permanent).
-- * rights / extension_id: a developer key made from an extension's SIP credentials
--   speaks only for that extension ('extension'), never with its owner's web rights
--   ('user': sessions, and keys made from a logged-in session). Keys made before this
--   migration were made from SIP credentials and cannot be told apart: they become
--   'extension' keys without an extension (no admin rights; make a new one).
-- * bridge_login_sources: failed attempts per source address (IPv6 per /64) in a window,
--   counted before any account is looked at.

ALTER TABLE bridge_api_tokens ADD COLUMN IF NOT EXISTS ttl_seconds DOUBLE PRECISION;
UPDATE bridge_api_tokens SET ttl_seconds = 86400 WHERE kind = 'session' AND ttl_seconds IS NULL;

ALTER TABLE bridge_api_tokens ADD COLUMN IF NOT EXISTS rights TEXT NOT NULL DEFAULT 'extension'
    CHECK (rights IN ('user', 'extension'));
UPDATE bridge_api_tokens SET rights = 'user' WHERE kind = 'session';
ALTER TABLE bridge_api_tokens ADD COLUMN IF NOT EXISTS extension_id INTEGER
    REFERENCES extensions(id) ON DELETE CASCADE;

CREATE TABLE IF NOT EXISTS bridge_login_sources (
    source          TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL,
    window_started  TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Old windows are deleted whenever a source starts a new one (bridge/api/attempts.py).
CREATE INDEX IF NOT EXISTS bridge_login_sources_window_idx ON bridge_login_sources (window_started);

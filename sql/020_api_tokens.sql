-- Admin API credentials (bridge's own table; XUI's own tables are untouched).
-- One row per login session (kind 'session', expires api.token_ttl seconds after its last
-- use) or per permanent developer key (kind 'dev_key', XUI "/api/users/dev_keys").
-- Only SHA-256(token) is stored: a copy of this table cannot be replayed. Rows live in
-- PostgreSQL so every bridge instance on the database accepts every token.

CREATE TABLE IF NOT EXISTS bridge_api_tokens (
    id              SERIAL PRIMARY KEY,
    token_sha256    BYTEA NOT NULL UNIQUE,
    kind            TEXT NOT NULL CHECK (kind IN ('session', 'dev_key')),
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- First 8 characters of the key, so a developer can tell their keys apart in a list.
    key_hint        TEXT NOT NULL DEFAULT '',
    description     TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMP(0) NOT NULL DEFAULT now(),
    updated_at      TIMESTAMP(0) NOT NULL DEFAULT now(),
    last_used_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS bridge_api_tokens_user_idx ON bridge_api_tokens (user_id, kind);

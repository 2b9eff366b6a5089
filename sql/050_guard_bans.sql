-- The registration guard's bans (bridge/guard/store.py), shared by every bridge instance.
-- A row is one source address (key '') or one extension limited from it (key 'extn@domain').
-- A ban is active while until > now(): it expires on its own. An unban sets until = now().
-- Rows outlive their ban (guard.forget_seconds) so a repeat offence gets a longer ban.
-- Adds one table of bridge's own: safe on an existing XUI database.

CREATE TABLE IF NOT EXISTS guard_bans (
    ip          TEXT NOT NULL,
    key         TEXT NOT NULL DEFAULT '',
    rule        TEXT NOT NULL,
    offences    INTEGER NOT NULL DEFAULT 1,
    banned_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    until       TIMESTAMPTZ NOT NULL,
    lifted_by   TEXT NOT NULL DEFAULT '',
    instance    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (ip, key)
);

CREATE INDEX IF NOT EXISTS guard_bans_until ON guard_bans (until);

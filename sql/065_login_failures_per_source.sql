-- Login locks per account AND source (docs/admin-api-security.md). bridge's own objects only.
--
-- * bridge_login_failures: failed web logins of one account from one source (IPv4 address,
--   IPv6 /64). An account is refused to that source once the source reached
--   api.max_login_attempts; it is locked for everyone (users.is_locked) only once
--   api.lock_sources distinct sources each reached it. One address can no longer keep the
--   owner, logging in from another address, out.
-- * bridge_login_unlocked: an operator lifting users.is_locked lifts the per-source locks too.
-- * bridge_login_attempt(): one attempt decided in one call, after the password was checked
--   by the caller: a right password is never answered "wrong" and only real failures are
--   charged. Every call takes its locks in one order (the source's row, then the account's
--   row, then the account's row for that source); before, the success path updated the
--   source and the account in one statement whose order PostgreSQL does not define, and
--   concurrent logins deadlocked against the attempt path's source-then-account order.

CREATE TABLE IF NOT EXISTS bridge_login_failures (
    user_id          INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    source           TEXT NOT NULL,
    failures         INTEGER NOT NULL,
    last_failure_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, source)
);

-- Outcomes: 'ok' (the password matched, nothing charged), 'wrong' (checked and failed),
-- 'unknown' (no such account; the source is charged), 'source_locked' (this source reached
-- the account's limit), 'account_locked' (locked for every source), 'source_limited' (the
-- source is over api.max_source_failures; nothing was looked at). lock_started: '' or
-- 'source' or 'account' when this attempt started a lock.
CREATE OR REPLACE FUNCTION bridge_login_attempt(
    p_user INTEGER,                  -- NULL: no account (unknown login, or a dev-key request)
    p_source TEXT,
    p_matches BOOLEAN,               -- the caller's check of the password
    p_sha1 BYTEA,                    -- the hash the caller checked against (a change since: no match)
    p_window DOUBLE PRECISION,       -- api.source_window
    p_max_source INTEGER,            -- api.max_source_failures
    p_max_attempts INTEGER,          -- api.max_login_attempts
    p_lock_seconds DOUBLE PRECISION, -- api.lock_seconds (0: locks until an operator lifts them)
    p_lock_sources INTEGER           -- api.lock_sources (0: never lock an account for everyone)
) RETURNS TABLE (outcome TEXT, source_failures INTEGER, failures INTEGER, lock_started TEXT)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    lock_for INTERVAL := make_interval(secs => p_lock_seconds);
    src_failures INTEGER;
    account RECORD;
    account_locked BOOLEAN := false;
    stale BOOLEAN := false;
    counted INTEGER := 0;
    last_at TIMESTAMPTZ;
    result TEXT;
    started TEXT := '';
    locked_sources INTEGER;
BEGIN
    -- 1. The source's row, created or locked (a window that is over starts again).
    INSERT INTO bridge_login_sources AS s (source, failures, window_started)
    VALUES (p_source, 0, now())
    ON CONFLICT (source) DO UPDATE SET
        failures = CASE WHEN s.window_started <= now() - make_interval(secs => p_window)
                        THEN 0 ELSE s.failures END,
        window_started = CASE WHEN s.window_started <= now() - make_interval(secs => p_window)
                              THEN now() ELSE s.window_started END
    RETURNING s.failures INTO src_failures;
    IF src_failures >= p_max_source THEN
        RETURN QUERY SELECT 'source_limited'::TEXT, src_failures, 0, ''::TEXT;
        RETURN;
    END IF;

    -- 2. The account's row, then its row for this source.
    IF p_user IS NULL THEN
        result := CASE WHEN p_matches THEN 'ok' ELSE 'unknown' END;
    ELSE
        SELECT u.sha1, u.is_locked::text IN ('1', 'true') AS locked, u.last_login_attempt_at
        INTO account FROM users u WHERE u.id = p_user FOR UPDATE;
        IF NOT FOUND THEN
            result := 'unknown';
        ELSE
            -- A lock without a time (set by someone else) never lapses by itself.
            stale := p_lock_seconds > 0 AND account.last_login_attempt_at IS NOT NULL
                     AND account.last_login_attempt_at <= now() - lock_for;
            account_locked := account.locked AND NOT stale;
            SELECT f.failures, f.last_failure_at INTO counted, last_at
            FROM bridge_login_failures f WHERE f.user_id = p_user AND f.source = p_source FOR UPDATE;
            IF NOT FOUND OR (p_lock_seconds > 0 AND last_at <= now() - lock_for) THEN
                counted := 0;
            END IF;
            IF account_locked THEN
                result := 'account_locked';
            ELSIF counted >= p_max_attempts THEN
                result := 'source_locked';
            ELSIF p_matches AND account.sha1 IS NOT DISTINCT FROM p_sha1 THEN
                result := 'ok';
            ELSE
                result := 'wrong';
            END IF;
        END IF;
    END IF;

    IF result = 'ok' THEN
        IF p_user IS NOT NULL THEN
            DELETE FROM bridge_login_failures WHERE user_id = p_user AND source = p_source;
            UPDATE users SET login_attempts = 0, is_locked = '0', last_login_at = now(),
                             last_login_attempt_at = now()
            WHERE id = p_user;
        END IF;
        RETURN QUERY SELECT result, src_failures, 0, ''::TEXT;
        RETURN;
    END IF;

    -- 3. A failure: the source pays for every one (a refusal while locked included, so a
    -- locked source learns nothing from its budget), the account only for a checked one.
    UPDATE bridge_login_sources SET
        failures = failures + 1,
        window_started = CASE WHEN failures = 0 THEN now() ELSE window_started END
    WHERE source = p_source
    RETURNING bridge_login_sources.failures INTO src_failures;
    IF result = 'unknown' THEN
        -- The statement a known account's failure makes on users (its AFTER UPDATE trigger
        -- included), on no row: an unknown login costs what a known one does
        -- (bench/login_timing.py; without it the two were told apart 69 % of the time).
        UPDATE users SET login_attempts = login_attempts WHERE id IS NULL;
    END IF;
    IF result = 'wrong' THEN
        counted := counted + 1;
        IF counted >= p_max_attempts THEN
            started := 'source';
            -- This source, and the others whose lock has not lapsed.
            SELECT count(*) + 1 INTO locked_sources FROM bridge_login_failures f
            WHERE f.user_id = p_user AND f.source <> p_source AND f.failures >= p_max_attempts
              AND (p_lock_seconds = 0 OR f.last_failure_at > now() - lock_for);
            IF p_lock_seconds = 0 OR (p_lock_sources > 0 AND locked_sources >= p_lock_sources) THEN
                started := 'account';
            END IF;
        END IF;
        -- Before this source's row is written: a lapsed lock cleared here clears the
        -- account's rows (bridge_login_unlocked), all lapsed by then.
        UPDATE users SET
            login_attempts = CASE WHEN stale THEN 1 ELSE COALESCE(login_attempts, 0) + 1 END,
            is_locked = CASE WHEN started = 'account' THEN '1' WHEN stale THEN '0' ELSE is_locked END,
            last_login_attempt_at = now()
        WHERE id = p_user;
        INSERT INTO bridge_login_failures AS f (user_id, source, failures, last_failure_at)
        VALUES (p_user, p_source, counted, now())
        ON CONFLICT (user_id, source) DO UPDATE SET failures = counted, last_failure_at = now();
        IF p_lock_seconds > 0 AND counted = 1 THEN  -- a new row: drop the account's lapsed ones
            DELETE FROM bridge_login_failures
            WHERE user_id = p_user AND source <> p_source AND last_failure_at <= now() - lock_for;
        END IF;
    END IF;
    RETURN QUERY SELECT result, src_failures, counted, started;
END
$$;

-- Lifting an account's lock (is_locked true -> false: an operator, XUI, or a lapsed lock
-- cleared by the next attempt) lifts its locks for single sources too.
CREATE OR REPLACE FUNCTION bridge_login_unlocked() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM bridge_login_failures WHERE user_id = NEW.id;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS bridge_login_unlocked ON users;
CREATE TRIGGER bridge_login_unlocked
    AFTER UPDATE OF is_locked ON users
    FOR EACH ROW
    WHEN (OLD.is_locked::text IN ('1', 'true') AND NEW.is_locked::text NOT IN ('1', 'true'))
    EXECUTE FUNCTION bridge_login_unlocked();

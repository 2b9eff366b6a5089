-- The XSwitch/XUI `users` and `extensions` tables, every column with the type and default
-- that tests/fixtures/xui/xui-rest-api.zh.txt documents ("用户管理" and "分机管理").
-- CREATE ... IF NOT EXISTS: pointed at an existing XUI database this changes no data.
--
-- Where the document's table and its own examples disagree, the examples (real output of a
-- running XUI) win, and the README says so:
--   * users.is_locked / users.is_admin: the table says int, every example prints a
--     PostgreSQL boolean (false, "f"); they are boolean here. bridge reads both kinds.
--   * users.sha1: "stored as bytea, shown as \x…" (README of checked facts).

CREATE TABLE IF NOT EXISTS users (
    id                      SERIAL PRIMARY KEY,
    login                   VARCHAR NOT NULL,
    name                    VARCHAR,
    password                VARCHAR,
    extn                    VARCHAR,
    cid_name                VARCHAR,
    cid_number              VARCHAR,
    context                 VARCHAR DEFAULT 'context-1',
    domain                  VARCHAR,
    vm_password             VARCHAR,
    email                   VARCHAR,
    type                    VARCHAR DEFAULT 'NORMAL',
    tel                     VARCHAR,
    auto_record             INTEGER DEFAULT 0,
    disabled                INTEGER DEFAULT 0,
    agent_info              JSONB DEFAULT '{}',
    tel_enabled             INTEGER DEFAULT 0,
    salt                    VARCHAR,
    sha1                    BYTEA,
    is_super                INTEGER DEFAULT 0,
    extn_id                 INTEGER,
    last_login_at           TIMESTAMP(0),
    created_at              TIMESTAMP(0) DEFAULT now(),
    updated_at              TIMESTAMP(0) DEFAULT now(),
    deleted_at              TIMESTAMP(0),
    login_attempts          INTEGER DEFAULT 0,
    is_locked               BOOLEAN DEFAULT false,
    is_admin                BOOLEAN DEFAULT false,
    first_login             INTEGER DEFAULT 0,
    last_login_attempt_at   TIMESTAMP(0),
    idle_timeout            INTEGER DEFAULT 60
);

CREATE TABLE IF NOT EXISTS extensions (
    id                              SERIAL PRIMARY KEY,
    name                            VARCHAR,
    domain                          VARCHAR,
    description                     VARCHAR,
    extn                            VARCHAR NOT NULL,
    password                        VARCHAR,
    vm_password                     VARCHAR,
    cid_number                      VARCHAR,
    cid_name                        VARCHAR,
    type                            VARCHAR DEFAULT 'SIP',
    connect_phone                   VARCHAR,
    call_transfer_type              INTEGER DEFAULT 0,
    voicemail                       INTEGER DEFAULT 0,
    ringback                        VARCHAR,
    timeout                         VARCHAR,
    enable_ringback                 INTEGER DEFAULT 0,
    auto_record                     INTEGER DEFAULT 0,
    call_limit                      INTEGER DEFAULT 1,
    called_limit                    INTEGER DEFAULT 1,
    call_authority                  INTEGER DEFAULT 4,
    intercept                       INTEGER DEFAULT 0,
    group_name                      VARCHAR,
    context                         VARCHAR,
    user_id                         INTEGER DEFAULT 0 REFERENCES users(id) ON DELETE CASCADE,
    force_insert                    INTEGER DEFAULT 0,
    force_breakdown                 INTEGER DEFAULT 0,
    eavesdrop                       INTEGER DEFAULT 0,
    extn_cidr                       VARCHAR,
    priority                        VARCHAR DEFAULT '99',
    weblogin_disabled               INTEGER DEFAULT 0,
    ha1b                            VARCHAR,
    ha1                             VARCHAR,
    sync_enabled                    INTEGER DEFAULT 0,
    display_order                   VARCHAR DEFAULT '0',
    disabled                        INTEGER DEFAULT 0,
    enable_srtp                     INTEGER DEFAULT 0,
    forced_insert                   INTEGER DEFAULT 0,
    eavesdropped                    INTEGER DEFAULT 0,
    intercepted                     INTEGER DEFAULT 0,
    intercepted_group_name          VARCHAR,
    codec                           VARCHAR,
    mac_address                     VARCHAR,
    enable_cb_onbusy                VARCHAR,
    caller_display                  INTEGER DEFAULT 1,
    hotline_number                  VARCHAR,
    hotline_type                    VARCHAR,
    hotline_address                 VARCHAR,
    enable_hotline                  INTEGER DEFAULT 0,
    boss_extn                       BOOLEAN DEFAULT false,
    secretary_extn                  VARCHAR DEFAULT '0',
    dtmf_type                       INTEGER DEFAULT 0,
    enable_extn_time_recurrences    INTEGER DEFAULT 0,
    enable_t38                      INTEGER DEFAULT 0,
    forced_breakdown                INTEGER DEFAULT 0,
    created_at                      TIMESTAMP(0) DEFAULT now(),
    updated_at                      TIMESTAMP(0) DEFAULT now(),
    deleted_at                      TIMESTAMP(0)
);

-- The directory looks an extension up by (domain, extn): one index scan per lookup.
-- Indexes add no data; an existing XUI database keeps every row as it was.
CREATE INDEX IF NOT EXISTS bridge_extensions_domain_extn_idx ON extensions (domain, extn);
CREATE INDEX IF NOT EXISTS bridge_extensions_user_id_idx ON extensions (user_id);

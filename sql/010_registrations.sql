-- Registration state shared by every bridge instance: the instance holding a node's lease
-- writes its bindings here (batched); the others read them so all answer the same.

CREATE TABLE bridge_registrations (
    node          TEXT NOT NULL,
    token         TEXT NOT NULL,          -- the SIP Call-ID
    url           TEXT NOT NULL,
    expires       TEXT NOT NULL,          -- absolute epoch second, as FreeSWITCH prints it
    reg_user      TEXT NOT NULL,
    network_proto TEXT NOT NULL,
    metadata      TEXT NOT NULL,
    hostname      TEXT NOT NULL,
    network_port  TEXT NOT NULL,
    realm         TEXT NOT NULL,
    network_ip    TEXT NOT NULL,
    profile       TEXT NOT NULL,
    user_agent    TEXT NOT NULL,
    status        TEXT NOT NULL,
    contact       TEXT NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (node, token)
);

CREATE INDEX bridge_registrations_user ON bridge_registrations (lower(realm), reg_user);

-- One row per node: who follows it (a lease renewed every sync), and what it reports.
CREATE TABLE bridge_esl_nodes (
    node           TEXT PRIMARY KEY,
    owner          TEXT NOT NULL,
    lease_until    TIMESTAMPTZ NOT NULL,
    state          TEXT NOT NULL,
    since          DOUBLE PRECISION NOT NULL,
    last_heartbeat DOUBLE PRECISION,
    last_error     TEXT NOT NULL DEFAULT ''
);

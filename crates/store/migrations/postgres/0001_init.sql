-- The whole schema for PostgreSQL, equal in meaning to the SQLite migrations 0001-0008
-- (a PostgreSQL database never had the earlier shapes), in PostgreSQL's own types: times
-- are TIMESTAMPTZ, subnets CIDR, addresses INET. Subnet claims of deployed topologies are
-- the database's to enforce: two LANs that claim a subnet can never overlap, whoever
-- writes them (`lans_claims_disjoint`, checked at commit so a batch may swap subnets).
-- A LAN claims (`claimed`) from its topology's deploy until its teardown; a pending design
-- is a draft that may still overlap, which validation refuses before deploy.

CREATE TABLE topologies (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    mode              TEXT NOT NULL,
    target_host       TEXT,
    status            TEXT NOT NULL,
    version           BIGINT NOT NULL,
    generation        BIGINT NOT NULL,
    observed          BIGINT NOT NULL DEFAULT 0,
    config_snapshot   TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    status_changed_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX topologies_status ON topologies (status);
CREATE INDEX topologies_created ON topologies (created_at);

CREATE TABLE lans (
    topology_id TEXT NOT NULL REFERENCES topologies (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    id          TEXT,
    subnet      CIDR NOT NULL,
    claimed     BOOLEAN NOT NULL DEFAULT FALSE,
    is_dmz      BOOLEAN NOT NULL,
    x           DOUBLE PRECISION,
    y           DOUBLE PRECISION,
    PRIMARY KEY (topology_id, name),
    CONSTRAINT lans_claims_disjoint EXCLUDE USING gist (subnet inet_ops WITH &&) WHERE (claimed)
        DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE deckies (
    topology_id    TEXT NOT NULL REFERENCES topologies (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    uuid           TEXT,
    hostname       TEXT,
    services       TEXT NOT NULL,
    service_config TEXT NOT NULL,
    forwards_l3    BOOLEAN NOT NULL,
    archetype      TEXT,
    x              DOUBLE PRECISION,
    y              DOUBLE PRECISION,
    state          TEXT NOT NULL,
    last_error     TEXT,
    PRIMARY KEY (topology_id, name)
);

-- Decky <-> LAN edges with the decky's IP on the LAN; exactly one per decky is its home.
CREATE TABLE memberships (
    topology_id TEXT NOT NULL,
    decky       TEXT NOT NULL,
    lan         TEXT NOT NULL,
    ip          INET NOT NULL,
    is_home     BOOLEAN NOT NULL,
    PRIMARY KEY (topology_id, decky, lan),
    FOREIGN KEY (topology_id, decky) REFERENCES deckies (topology_id, name) ON DELETE CASCADE ON UPDATE CASCADE,
    FOREIGN KEY (topology_id, lan) REFERENCES lans (topology_id, name) ON DELETE CASCADE ON UPDATE CASCADE,
    UNIQUE (topology_id, lan, ip)
);
CREATE UNIQUE INDEX memberships_one_home ON memberships (topology_id, decky) WHERE is_home;

CREATE TABLE mutations (
    id                BIGSERIAL PRIMARY KEY,
    topology_id       TEXT NOT NULL REFERENCES topologies (id) ON DELETE CASCADE,
    op                TEXT NOT NULL,
    payload           TEXT NOT NULL,
    state             TEXT NOT NULL,
    reason            TEXT,
    codes             TEXT NOT NULL,
    lease_owner       TEXT,
    lease_deadline_ms BIGINT,
    attempts          BIGINT NOT NULL,
    requested_at      TIMESTAMPTZ NOT NULL,
    finished_at       TIMESTAMPTZ
);
CREATE INDEX mutations_queue ON mutations (topology_id, state, id);
CREATE INDEX mutations_state ON mutations (state, topology_id);

-- Which engine does what for a topology (`purpose`: reconcile = drain, deploy, heal, tear
-- down; collect = follow its decoys' logs), until when: one engine at a time per purpose,
-- taken over by another once the deadline passes.
CREATE TABLE topology_leases (
    topology_id TEXT NOT NULL REFERENCES topologies (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL,
    owner       TEXT NOT NULL,
    deadline_ms BIGINT NOT NULL,
    PRIMARY KEY (topology_id, purpose)
);

CREATE TABLE status_events (
    id          BIGSERIAL PRIMARY KEY,
    topology_id TEXT NOT NULL REFERENCES topologies (id) ON DELETE CASCADE,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    reason      TEXT NOT NULL
);
CREATE INDEX status_events_topology ON status_events (topology_id, id);

CREATE TABLE topology_personas (
    topology_id      TEXT PRIMARY KEY REFERENCES topologies (id) ON DELETE CASCADE,
    language_default TEXT NOT NULL,
    personas         TEXT NOT NULL
);

-- Accounts of the HTTP API.
CREATE TABLE users (
    username      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);

-- Unredeemed single-use tickets of the event stream (EventSource cannot send a header), in
-- the database so a ticket issued by one API replica is redeemed by any.
CREATE TABLE stream_tickets (
    ticket           TEXT PRIMARY KEY,
    username         TEXT NOT NULL,
    jti              TEXT NOT NULL,
    token_expires_at TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The event log. Ids come from a sequence, which hands them out at insert, not at commit;
-- the store makes them grow in commit order (appending holds a transaction-level advisory
-- lock until commit), so a reader resuming "after id N" never misses a later commit that
-- took a lower id.
CREATE TABLE events (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    topology_id TEXT,
    kind        TEXT NOT NULL,
    decky       TEXT,
    service     TEXT,
    source_ip   TEXT,
    payload     TEXT NOT NULL
);
CREATE INDEX events_topology ON events (topology_id, id);
CREATE INDEX events_kind ON events (kind, id);
CREATE INDEX events_source ON events (source_ip, id);
CREATE INDEX events_at ON events (at);

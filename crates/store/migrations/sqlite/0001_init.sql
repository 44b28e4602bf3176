-- Initial schema. Kept to portable SQL (no SQLite-only types or behaviour) so the
-- PostgreSQL migrations can mirror it; only INTEGER PRIMARY KEY becomes BIGSERIAL there.

CREATE TABLE topologies (
    id                TEXT PRIMARY KEY NOT NULL,
    name              TEXT NOT NULL UNIQUE,
    mode              TEXT NOT NULL,
    target_host       TEXT,
    status            TEXT NOT NULL,
    version           BIGINT NOT NULL,
    generation        BIGINT NOT NULL,
    config_snapshot   TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    status_changed_at TEXT NOT NULL
);
CREATE INDEX topologies_status ON topologies (status);
CREATE INDEX topologies_created ON topologies (created_at);

CREATE TABLE lans (
    topology_id TEXT NOT NULL REFERENCES topologies (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    subnet      TEXT NOT NULL,
    is_dmz      BOOLEAN NOT NULL,
    x           DOUBLE PRECISION,
    y           DOUBLE PRECISION,
    PRIMARY KEY (topology_id, name)
);

CREATE TABLE deckies (
    topology_id    TEXT NOT NULL REFERENCES topologies (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
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
    ip          TEXT NOT NULL,
    is_home     BOOLEAN NOT NULL,
    PRIMARY KEY (topology_id, decky, lan),
    FOREIGN KEY (topology_id, decky) REFERENCES deckies (topology_id, name) ON DELETE CASCADE,
    FOREIGN KEY (topology_id, lan) REFERENCES lans (topology_id, name) ON DELETE CASCADE,
    UNIQUE (topology_id, lan, ip)
);
CREATE UNIQUE INDEX memberships_one_home ON memberships (topology_id, decky) WHERE is_home;

CREATE TABLE mutations (
    id               INTEGER PRIMARY KEY,
    topology_id      TEXT NOT NULL REFERENCES topologies (id) ON DELETE CASCADE,
    op               TEXT NOT NULL,
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL,
    reason           TEXT,
    codes            TEXT NOT NULL,
    lease_owner      TEXT,
    lease_deadline_ms BIGINT,
    attempts         INTEGER NOT NULL,
    requested_at     TEXT NOT NULL,
    finished_at      TEXT
);
CREATE INDEX mutations_queue ON mutations (topology_id, state, id);
CREATE INDEX mutations_state ON mutations (state, topology_id);

CREATE TABLE status_events (
    id          INTEGER PRIMARY KEY,
    topology_id TEXT NOT NULL REFERENCES topologies (id) ON DELETE CASCADE,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    at          TEXT NOT NULL,
    reason      TEXT NOT NULL
);
CREATE INDEX status_events_topology ON status_events (topology_id, id);

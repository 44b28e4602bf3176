-- The event log: every state change the store commits (mutation states, topology status,
-- observed decky states) and, later, what attackers do. Written in the same transaction as
-- the change it records, so an event exists exactly when its change does; ids only grow
-- (AUTOINCREMENT never reuses one), so a reader resuming "after id N" misses nothing.
-- No foreign key: the record outlives a deleted topology.

CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
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

-- Which engine does what for a topology (`purpose`: reconcile = drain, deploy, heal, tear
-- down; collect = follow its decoys' logs), until when: one engine at a time per purpose,
-- taken over by another once the deadline passes.
CREATE TABLE topology_leases (
    topology_id TEXT NOT NULL REFERENCES topologies (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL,
    owner       TEXT NOT NULL,
    deadline_ms INTEGER NOT NULL,
    PRIMARY KEY (topology_id, purpose)
);

-- Unredeemed single-use tickets of the event stream (EventSource cannot send a header), in
-- the database so a ticket issued by one API replica is redeemed by any.
CREATE TABLE stream_tickets (
    ticket           TEXT PRIMARY KEY,
    username         TEXT NOT NULL,
    jti              TEXT NOT NULL,
    token_expires_at TEXT NOT NULL,
    expires_at       TEXT NOT NULL
);

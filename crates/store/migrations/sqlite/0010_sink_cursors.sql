-- Each sink's cursor in the event log (it has delivered everything up to `after_id`) and
-- the engine that delivers it now, until when: one engine at a time per sink, taken over
-- by another once the deadline passes.
CREATE TABLE sink_cursors (
    name        TEXT PRIMARY KEY,
    after_id    BIGINT NOT NULL,
    owner       TEXT NOT NULL,
    deadline_ms BIGINT NOT NULL
);

-- What the alert rules made of the events: one row per rule, topology and source while
-- its events keep coming (folded, with a count); open once the count reaches the rule's
-- threshold. '' stands for no topology and no source, so the fold key compares plainly.
CREATE TABLE incidents (
    id             BIGSERIAL PRIMARY KEY,
    rule           TEXT NOT NULL,
    severity       TEXT NOT NULL,
    topology_id    TEXT NOT NULL,
    source_ip      TEXT NOT NULL,
    decky          TEXT,
    service        TEXT,
    first_seen     TIMESTAMPTZ NOT NULL,
    last_seen      TIMESTAMPTZ NOT NULL,
    count          BIGINT NOT NULL,
    threshold      BIGINT NOT NULL,
    first_event_id BIGINT NOT NULL,
    last_event_id  BIGINT NOT NULL
);
CREATE INDEX incidents_fold ON incidents (rule, topology_id, source_ip, last_seen);
CREATE INDEX incidents_recent ON incidents (last_seen);

-- Per-topology mail personas (the original's `email_personas` and `language_default`),
-- last write wins. A topology without a row has none and speaks English.
CREATE TABLE topology_personas (
    topology_id      TEXT PRIMARY KEY NOT NULL REFERENCES topologies (id) ON DELETE CASCADE,
    language_default TEXT NOT NULL,
    personas         TEXT NOT NULL
);

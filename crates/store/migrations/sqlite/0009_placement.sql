-- Where a topology's deckies run on a runtime of several hosts: its policy and pins, as
-- JSON (`decnet_domain::placement::Placement`: pins by item id, so renames keep them).
CREATE TABLE topology_placements (
    topology_id TEXT PRIMARY KEY REFERENCES topologies (id) ON DELETE CASCADE,
    placement   TEXT NOT NULL
);

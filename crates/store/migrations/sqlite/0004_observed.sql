-- Counts recorded decky-state changes, so readers can tell that what a GET of the topology
-- shows has changed even when its desired state (`version`) has not.
ALTER TABLE topologies ADD COLUMN observed BIGINT NOT NULL DEFAULT 0;

-- Stable ids of LANs and deckies, as clients of the original API address them
-- (`lans/{lan_id}`, `deckies/{uuid}`). A rename keeps the id. Rows stored before this
-- migration get a random version-4 UUID.
ALTER TABLE lans ADD COLUMN id TEXT;
ALTER TABLE deckies ADD COLUMN uuid TEXT;
UPDATE lans SET id = lower(
    hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-'
    || substr('89ab', 1 + abs(random() % 4), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)));
UPDATE deckies SET uuid = lower(
    hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-'
    || substr('89ab', 1 + abs(random() % 4), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)));

-- The host name each decky's persona answers with. Deckies stored before this keep their
-- label as their host name (what they answered with until now).
ALTER TABLE deckies ADD COLUMN hostname TEXT;
UPDATE deckies SET hostname = name;

-- One story, one notification: entries of different feeds with the same link (tracking removed)
-- or the same normalised title and summary are linked to the first one seen; listings and change
-- notifications leave such duplicates out unless asked for them.
ALTER TABLE items ADD COLUMN url_key TEXT;
ALTER TABLE items ADD COLUMN text_key TEXT;
ALTER TABLE items ADD COLUMN duplicate_of INTEGER; -- items.rowid of the first item of the story
CREATE INDEX items_by_url_key ON items (url_key) WHERE url_key IS NOT NULL;
CREATE INDEX items_by_text_key ON items (text_key) WHERE text_key IS NOT NULL;
CREATE INDEX items_by_duplicate_of ON items (duplicate_of) WHERE duplicate_of IS NOT NULL;

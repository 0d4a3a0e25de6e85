-- Pages in time order break ties by rowid instead of by the 32-character item id. Every index ends
-- with the rowid, so the ordering indexes hold only the time (scanned backwards for newest
-- first), and each insert writes two index entries of a dozen bytes instead of about fifty.
DROP INDEX items_by_published;
DROP INDEX items_by_updated;
CREATE INDEX items_by_published ON items (sort_published);
CREATE INDEX items_by_updated ON items (sort_updated);

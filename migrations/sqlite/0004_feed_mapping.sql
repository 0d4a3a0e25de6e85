-- CSV feeds (and later JSON APIs) carry a mapping: a TOML document saying how rows become items,
-- checked when the feed is registered.
ALTER TABLE feeds ADD COLUMN mapping TEXT;

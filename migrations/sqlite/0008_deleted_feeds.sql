-- A deleted feed is kept (its items, withdrawn, still name it) but no longer listed or polled.
-- Registering its URL again for the same organisation brings it back.
ALTER TABLE feeds ADD COLUMN deleted_at INTEGER;
DROP INDEX feeds_due;
CREATE INDEX feeds_due ON feeds (next_check_at) WHERE state <> 'PAUSED' AND deleted_at IS NULL;

-- Items a snapshot feed no longer publishes are withdrawn, never deleted: the row stays (the change
-- log refers to it) and listings leave it out. NULL: live.
ALTER TABLE items ADD COLUMN withdrawn_at INTEGER;

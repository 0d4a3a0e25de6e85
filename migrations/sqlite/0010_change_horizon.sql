-- The change log is pruned after a horizon; this remembers the last sequence pruned, so a cursor
-- from before it is told it expired instead of silently skipping what was pruned.
INSERT INTO meta (key, value) VALUES ('changes_pruned_through', 0);
CREATE INDEX changes_by_time ON changes (at);

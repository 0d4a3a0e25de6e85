-- Write-friendly full-text merging. FTS5 flushes its pending terms to a new segment whenever they
-- pass `hashsize` (1 MB by default), and merges segments while inserting once a level holds
-- `automerge` of them (4 by default). A 2,000-item chunk of 1 KB entries made two or three
-- segments and a merge in every transaction. With a 16 MB pending-terms table a chunk becomes one
-- segment, and merging waits for 16 segments on a level (FTS5's own `crisismerge` point), so large
-- imports spend their time writing rather than re-merging; a query reads at most a few more
-- segments. Both settings are kept in the index's own configuration.
INSERT INTO items_fts (items_fts, rank) VALUES ('hashsize', 16777216);
INSERT INTO items_fts (items_fts, rank) VALUES ('automerge', 16);

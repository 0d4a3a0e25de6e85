-- A large file is stored a chunk at a time. Each chunk's transaction also records how far the
-- poll got in which body (its SHA-256), so a poll cut short (a crash, a failed write) is resumed
-- there when the next poll fetches the same body. A successful poll clears it.
ALTER TABLE feeds ADD COLUMN resume_hash TEXT;
ALTER TABLE feeds ADD COLUMN resume_items INTEGER NOT NULL DEFAULT 0;

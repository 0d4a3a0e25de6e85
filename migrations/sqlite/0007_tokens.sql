-- API tokens: only the SHA-256 of the secret is kept, with its first characters for telling
-- tokens apart. A revoked token stays, for the audit trail, but no longer authenticates.
CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    role         TEXT NOT NULL,
    organisation TEXT REFERENCES organisations (id),
    networks     TEXT NOT NULL DEFAULT '[]',
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);

-- Tributary's SQLite schema. Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO meta (key, value) VALUES ('data_version', 0), ('seed_version', 0);

CREATE TABLE organisations (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    name_en        TEXT NOT NULL,
    name_local     TEXT,
    local_language TEXT,
    region         TEXT,
    source         TEXT
);

CREATE TABLE networks (
    slug        TEXT PRIMARY KEY,
    short_name  TEXT NOT NULL,
    name_en     TEXT NOT NULL,
    region      TEXT,
    founded     TEXT,
    description TEXT,
    source      TEXT
);

CREATE TABLE memberships (
    network      TEXT NOT NULL REFERENCES networks (slug),
    organisation TEXT NOT NULL REFERENCES organisations (id),
    role         TEXT NOT NULL,
    source       TEXT,
    PRIMARY KEY (network, organisation)
);
CREATE INDEX memberships_by_organisation ON memberships (organisation);

CREATE TABLE feeds (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    organisation       TEXT NOT NULL REFERENCES organisations (id),
    url                TEXT NOT NULL,
    host               TEXT NOT NULL, -- the URL's host, for per-host concurrency when claiming
    kind               TEXT NOT NULL,
    title              TEXT,
    default_category   TEXT,
    default_language   TEXT,
    default_countries  TEXT NOT NULL DEFAULT '',
    visibility         TEXT NOT NULL DEFAULT 'PUBLIC',
    poll_interval_secs INTEGER NOT NULL,
    state              TEXT NOT NULL DEFAULT 'ACTIVE',
    last_error         TEXT,
    error_count        INTEGER NOT NULL DEFAULT 0,
    next_check_at      INTEGER NOT NULL,
    lease_until        INTEGER,
    last_success_at    INTEGER,
    etag               TEXT,
    last_modified      TEXT,
    body_hash          TEXT,
    warnings           TEXT NOT NULL DEFAULT '[]',
    created_at         INTEGER NOT NULL,
    UNIQUE (organisation, url)
);
CREATE INDEX feeds_due ON feeds (next_check_at) WHERE state <> 'PAUSED';

CREATE TABLE items (
    rowid                 INTEGER PRIMARY KEY,
    id                    TEXT NOT NULL UNIQUE,
    feed                  INTEGER NOT NULL REFERENCES feeds (id),
    organisation          TEXT NOT NULL,
    visibility            TEXT NOT NULL,
    source_key            TEXT NOT NULL,
    title                 TEXT NOT NULL,
    summary               TEXT NOT NULL,
    url                   TEXT,
    language              TEXT,
    direction             TEXT NOT NULL,
    published_at          INTEGER,
    updated_at            INTEGER,
    -- published_at (or first_seen_at) and updated_at (or published), for stable keyset ordering
    sort_published        INTEGER NOT NULL,
    sort_updated          INTEGER NOT NULL,
    category              TEXT NOT NULL,
    categories            TEXT NOT NULL,
    classification_source TEXT NOT NULL,
    terms                 TEXT NOT NULL,
    countries             TEXT NOT NULL,
    route                 TEXT,
    figures               TEXT NOT NULL,
    version               INTEGER NOT NULL,
    content_hash          TEXT NOT NULL,
    first_seen_at         INTEGER NOT NULL
);
CREATE INDEX items_by_published ON items (sort_published DESC, id DESC);
CREATE INDEX items_by_updated ON items (sort_updated DESC, id DESC);
CREATE INDEX items_by_feed ON items (feed);
CREATE INDEX items_by_organisation ON items (organisation);

-- Full-text index over title and summary normalised by the connectors' normaliser, and the
-- item's facets as tokens (`c_route_change` for a category, `k_it` for a country): filtering by
-- category or country is an index lookup, and writing an item adds a few tokens instead of rows
-- in two more indexed tables. Contentless: the text is not stored twice (rows are written and
-- deleted by rowid from the store's code). `_` is a token character so facet tokens stay whole;
-- normalised text never contains one.
CREATE VIRTUAL TABLE items_fts USING fts5 (
    search_text,
    facets,
    content = '',
    contentless_delete = 1,
    tokenize = "unicode61 remove_diacritics 0 tokenchars '_'"
);

-- The append-only change log. SQLite has one writer, so sequence order is commit order.
CREATE TABLE changes (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    item     INTEGER NOT NULL, -- items.rowid
    kind     TEXT NOT NULL,
    at       INTEGER NOT NULL,
    backfill INTEGER NOT NULL,
    version  INTEGER NOT NULL
);
CREATE INDEX changes_by_item ON changes (item);

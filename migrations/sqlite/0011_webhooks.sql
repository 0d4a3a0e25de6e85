-- Webhooks. The change log is their outbox: each change is written in the transaction of the item
-- it describes, and a webhook delivers the matching changes after `delivered_through`, in order,
-- advancing it only when the receiver accepted one. Nothing is lost across restarts.
CREATE TABLE webhooks (
    id                INTEGER PRIMARY KEY,
    organisation      TEXT REFERENCES organisations (id),
    token             INTEGER NOT NULL REFERENCES tokens (id),
    url               TEXT NOT NULL,
    filter            TEXT NOT NULL, -- JSON
    secret            TEXT NOT NULL, -- needed in clear to sign
    state             TEXT NOT NULL,
    disabled_reason   TEXT,
    delivered_through INTEGER NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    failing_since     INTEGER,
    next_attempt_at   INTEGER NOT NULL,
    last_attempt_at   INTEGER,
    last_status       INTEGER,
    last_error        TEXT,
    last_success_at   INTEGER,
    created_at        INTEGER NOT NULL
);
CREATE INDEX webhooks_due ON webhooks (state, next_attempt_at);

-- The latest attempts of each webhook, for its owner to read.
CREATE TABLE webhook_deliveries (
    id          INTEGER PRIMARY KEY,
    webhook     INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    message_id  TEXT NOT NULL,
    sequence    INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    status      INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook, id);

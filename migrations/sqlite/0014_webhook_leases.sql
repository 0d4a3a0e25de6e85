-- A hub process takes a webhook's turn under a lease, so with several processes (replicas on
-- PostgreSQL, a second `serve` on one SQLite file) each change is delivered by one of them; one
-- that dies mid-turn lets the webhook go when its lease expires.
ALTER TABLE webhooks ADD COLUMN lease_until INTEGER;

-- Who holds a lease: each store names itself, so a poll or a webhook turn that outlived its lease
-- neither releases nor renews a lease another process has taken since.
ALTER TABLE feeds ADD COLUMN lease_owner TEXT;
ALTER TABLE webhooks ADD COLUMN lease_owner TEXT;

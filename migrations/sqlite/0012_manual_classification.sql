-- A person's correction of an item's classification (`classifyItem`): kept through later polls,
-- which otherwise classify the item again from its source and the rules.
ALTER TABLE items ADD COLUMN manual_category TEXT;
ALTER TABLE items ADD COLUMN manual_categories TEXT;

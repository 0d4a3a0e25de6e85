-- Items read from another hub (HUB feeds): where they came from (JSON: origin hub, organisation
-- and id, the path of hubs), and how visible they were there, so they never become more visible
-- here than on their way.
ALTER TABLE items ADD COLUMN provenance TEXT;
ALTER TABLE items ADD COLUMN source_visibility TEXT;

-- Facets in key order, for pages filtered by a country and a category. The GIN index on
-- `items.facets` finds the items of a filter but not in time order, so a page of the newest 50
-- sorted thousands of matches (or scanned the time index until 50 matched: 20 ms on a million
-- items). Here each item has a row per category (`c_route_change`), per country (`k_it`), and
-- per country and category (`k_it.c_route_change`), keyed with its time: a page with one
-- country and one category (or either alone) reads its 50 rows in order from one B-tree range.
-- A trigger keeps the rows with the item's facets and time, whichever path writes them.
CREATE TABLE item_facets (
    facet          TEXT NOT NULL,
    sort_published BIGINT NOT NULL,
    item           BIGINT NOT NULL, -- items.rowid
    PRIMARY KEY (facet, sort_published, item)
);
CREATE INDEX item_facets_by_item ON item_facets (item);

CREATE FUNCTION item_facet_rows(facets TEXT[]) RETURNS SETOF TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT DISTINCT f FROM unnest(facets) f
    UNION
    SELECT DISTINCT k || '.' || c FROM unnest(facets) k, unnest(facets) c
    WHERE left(k, 2) = 'k_' AND left(c, 2) = 'c_'
$$;

CREATE FUNCTION item_facets_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.facets = OLD.facets AND NEW.sort_published = OLD.sort_published THEN
            RETURN NULL;
        END IF;
        DELETE FROM item_facets WHERE item = OLD.rowid;
    END IF;
    INSERT INTO item_facets (facet, sort_published, item)
    SELECT f, NEW.sort_published, NEW.rowid FROM item_facet_rows(NEW.facets) f;
    RETURN NULL;
END
$$;

CREATE TRIGGER items_facets AFTER INSERT OR UPDATE OF facets, sort_published ON items
    FOR EACH ROW EXECUTE FUNCTION item_facets_follow();

INSERT INTO item_facets (facet, sort_published, item)
SELECT f, i.sort_published, i.rowid FROM items i, item_facet_rows(i.facets) f;

-- Searching a million ads (issue 16): the catalogue keeps only what search reads, narrow enough
-- that a count does not read every RDO; the RDOs move to `catalogue_documents`. The totals of
-- the whole catalogue are kept by triggers, so that ALL and NOT need no scan. (The same
-- statements as the attached flavour's 0002.)
ALTER TABLE catalogue RENAME TO catalogue_before_0009;

-- The search text comes last, so that what a count sums is read without it.
CREATE TABLE catalogue (
    observation_id   TEXT COLLATE "C" PRIMARY KEY,
    observer_id      TEXT NOT NULL,
    timestamp        BIGINT NOT NULL,
    observation_uuid TEXT NOT NULL,
    observed_at      DOUBLE PRECISION NOT NULL,
    platform         TEXT,
    rdo_key          TEXT NOT NULL UNIQUE,
    image_count      BIGINT NOT NULL DEFAULT 0,
    image_bytes      BIGINT NOT NULL DEFAULT 0,
    rdo_bytes        BIGINT NOT NULL DEFAULT 0,
    page_names       TEXT NOT NULL,
    categories       TEXT NOT NULL,
    search_text      TEXT NOT NULL
);
CREATE TABLE catalogue_documents (
    observation_id TEXT COLLATE "C" PRIMARY KEY REFERENCES catalogue (observation_id) ON DELETE CASCADE,
    rdo            TEXT NOT NULL
);

CREATE TABLE catalogue_totals (
    one_row     INTEGER PRIMARY KEY CHECK (one_row = 1),
    ads         BIGINT NOT NULL,
    images      BIGINT NOT NULL,
    image_bytes BIGINT NOT NULL,
    rdo_bytes   BIGINT NOT NULL
);
INSERT INTO catalogue_totals VALUES (1, 0, 0, 0, 0);
-- Once per statement, from its transition tables: a batch of upserts moves the totals once.
CREATE FUNCTION catalogue_totals_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE catalogue_totals t SET ads = t.ads + d.ads, images = t.images + d.images,
            image_bytes = t.image_bytes + d.image_bytes, rdo_bytes = t.rdo_bytes + d.rdo_bytes
        FROM (SELECT COUNT(*) AS ads, COALESCE(SUM(image_count), 0) AS images,
                COALESCE(SUM(image_bytes), 0) AS image_bytes, COALESCE(SUM(rdo_bytes), 0) AS rdo_bytes
              FROM new_rows) d;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE catalogue_totals t SET ads = t.ads - d.ads, images = t.images - d.images,
            image_bytes = t.image_bytes - d.image_bytes, rdo_bytes = t.rdo_bytes - d.rdo_bytes
        FROM (SELECT COUNT(*) AS ads, COALESCE(SUM(image_count), 0) AS images,
                COALESCE(SUM(image_bytes), 0) AS image_bytes, COALESCE(SUM(rdo_bytes), 0) AS rdo_bytes
              FROM old_rows) d;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER catalogue_added AFTER INSERT ON catalogue REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalogue_totals_follow();
CREATE TRIGGER catalogue_changed AFTER UPDATE ON catalogue REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalogue_totals_follow();
CREATE TRIGGER catalogue_removed AFTER DELETE ON catalogue REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalogue_totals_follow();

-- Newest first, as exports and previews read them.
INSERT INTO catalogue (observation_id, observer_id, timestamp, observation_uuid, observed_at, platform, rdo_key,
    image_count, image_bytes, rdo_bytes, page_names, categories, search_text)
SELECT observation_id, observer_id, timestamp, observation_uuid, observed_at, platform, rdo_key,
    image_count, image_bytes, rdo_bytes, page_names, categories, search_text
FROM catalogue_before_0009 ORDER BY observed_at DESC, observation_id DESC;
INSERT INTO catalogue_documents (observation_id, rdo) SELECT observation_id, rdo FROM catalogue_before_0009;
DROP TABLE catalogue_before_0009;

-- Newest first, and the keyset cursor that pages through results.
CREATE INDEX catalogue_newest ON catalogue (observed_at DESC, observation_id DESC);
CREATE INDEX catalogue_observer ON catalogue (observer_id);
-- Trigram indexes so the CONTAINS methods (LIKE '%phrase%') do not scan every ad.
CREATE INDEX catalogue_observer_trgm ON catalogue USING gin (observer_id gin_trgm_ops);
CREATE INDEX catalogue_uuid_trgm ON catalogue USING gin (observation_uuid gin_trgm_ops);
CREATE INDEX catalogue_page_names_trgm ON catalogue USING gin (page_names gin_trgm_ops);
CREATE INDEX catalogue_categories_trgm ON catalogue USING gin (categories gin_trgm_ops);
CREATE INDEX catalogue_search_text_trgm ON catalogue USING gin (search_text gin_trgm_ops);

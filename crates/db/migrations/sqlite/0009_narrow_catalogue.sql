-- Searching a million ads (issue 16): the catalogue keeps only what search reads, narrow enough
-- that a count does not read every RDO; the RDOs move to `catalogue_documents`. A trigram index
-- over the search text finds the candidates of a substring, and the totals of the whole
-- catalogue are kept by triggers, so that ALL and NOT need no scan.
ALTER TABLE catalogue RENAME TO catalogue_before_0009;

-- `id` names the row for the trigram index (an implicit rowid may change on VACUUM); the search
-- text comes last so that what a count sums is read without it.
CREATE TABLE catalogue (
    id               INTEGER PRIMARY KEY,
    observation_id   TEXT NOT NULL UNIQUE,
    observer_id      TEXT NOT NULL,
    timestamp        BIGINT NOT NULL,
    observation_uuid TEXT NOT NULL,
    observed_at      REAL NOT NULL,
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
    observation_id TEXT PRIMARY KEY REFERENCES catalogue (observation_id) ON DELETE CASCADE,
    rdo            TEXT NOT NULL
);

-- Substring candidates: every trigram of each ad's search text (which holds every string of the
-- RDO, so also its observer, observation, page names and categories). Contentless: the text is
-- in `catalogue`; `detail=none`: a query ANDs a phrase's trigrams and `instr` confirms.
CREATE VIRTUAL TABLE catalogue_text USING fts5(
    search_text, content = '', contentless_delete = 1, tokenize = 'trigram case_sensitive 1', detail = 'none'
);
CREATE TABLE catalogue_totals (
    one_row     INTEGER PRIMARY KEY CHECK (one_row = 1),
    ads         BIGINT NOT NULL,
    images      BIGINT NOT NULL,
    image_bytes BIGINT NOT NULL,
    rdo_bytes   BIGINT NOT NULL
);
INSERT INTO catalogue_totals VALUES (1, 0, 0, 0, 0);

CREATE TRIGGER catalogue_added AFTER INSERT ON catalogue BEGIN
    INSERT INTO catalogue_text (rowid, search_text) VALUES (new.id, new.search_text);
    UPDATE catalogue_totals SET ads = ads + 1, images = images + new.image_count,
        image_bytes = image_bytes + new.image_bytes, rdo_bytes = rdo_bytes + new.rdo_bytes;
END;
CREATE TRIGGER catalogue_changed AFTER UPDATE ON catalogue BEGIN
    DELETE FROM catalogue_text WHERE rowid = old.id;
    INSERT INTO catalogue_text (rowid, search_text) VALUES (new.id, new.search_text);
    UPDATE catalogue_totals SET images = images - old.image_count + new.image_count,
        image_bytes = image_bytes - old.image_bytes + new.image_bytes,
        rdo_bytes = rdo_bytes - old.rdo_bytes + new.rdo_bytes;
END;
CREATE TRIGGER catalogue_removed AFTER DELETE ON catalogue BEGIN
    DELETE FROM catalogue_text WHERE rowid = old.id;
    UPDATE catalogue_totals SET ads = ads - 1, images = images - old.image_count,
        image_bytes = image_bytes - old.image_bytes, rdo_bytes = rdo_bytes - old.rdo_bytes;
END;

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

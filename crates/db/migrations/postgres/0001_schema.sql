-- aao-export schema, PostgreSQL flavour. Times are epoch milliseconds (as the AAO stores them).

-- The AAO's tables the exports join in.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    full_name     TEXT NOT NULL DEFAULT '',
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    role          TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user', 'guest')),
    primary_email TEXT
);

CREATE TABLE tags (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT,
    hex         TEXT
);

CREATE TABLE applied_tags (
    observation_id TEXT NOT NULL,
    tag_id         TEXT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (observation_id, tag_id)
);

CREATE TABLE ad_attributes (
    observation_id TEXT NOT NULL,
    key            TEXT NOT NULL,
    value          TEXT,
    created_at     BIGINT,
    created_by     TEXT,
    modified_at    BIGINT,
    modified_by    TEXT,
    PRIMARY KEY (observation_id, key)
);

CREATE TABLE ad_classifications (
    id             TEXT PRIMARY KEY,
    observation_id TEXT NOT NULL,
    label          TEXT NOT NULL,
    score          DOUBLE PRECISION NOT NULL,
    created_at     BIGINT,
    updated_at     BIGINT
);
CREATE INDEX ad_classifications_observation ON ad_classifications (observation_id);

-- The observation catalogue: one row per exportable ad, with what search needs.
CREATE TABLE observations (
    observation_id   TEXT COLLATE "C" PRIMARY KEY,
    observer_id      TEXT NOT NULL,
    timestamp        BIGINT NOT NULL,
    observation_uuid TEXT NOT NULL,
    observed_at      DOUBLE PRECISION NOT NULL,
    platform         TEXT,
    rdo_key          TEXT NOT NULL UNIQUE,
    rdo              TEXT NOT NULL,
    page_names       TEXT NOT NULL,
    categories       TEXT NOT NULL,
    search_text      TEXT NOT NULL
);
-- Newest first, and the keyset cursor that pages through results.
CREATE INDEX observations_newest ON observations (observed_at DESC, observation_id DESC);
CREATE INDEX observations_observer ON observations (observer_id);

-- Every object the indexer has looked at, so unchanged ones are skipped and bad ones reported.
CREATE TABLE catalogue_objects (
    object_key     TEXT PRIMARY KEY,
    version        TEXT NOT NULL,
    outcome        TEXT NOT NULL CHECK (outcome IN ('indexed', 'withdrawn', 'unparseable')),
    observation_id TEXT,
    detail         TEXT
);
CREATE INDEX catalogue_objects_outcome ON catalogue_objects (outcome);

-- The spec's export tables.
CREATE TABLE exports (
    export_id          UUID PRIMARY KEY,
    creator_id         TEXT NOT NULL REFERENCES users (id),
    include_images     BOOLEAN NOT NULL,
    query_string       TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'expired')),
    s3_url             TEXT,
    object_location    TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    started_at         BIGINT,
    completed_at       BIGINT,
    message            TEXT,
    attempt            INTEGER NOT NULL DEFAULT 1,
    max_retries        INTEGER NOT NULL DEFAULT 3,
    lease_owner        TEXT,
    lease_expires_at   BIGINT,
    progress_processed BIGINT NOT NULL DEFAULT 0,
    progress_total     BIGINT,
    size_bytes         BIGINT,
    ad_count           BIGINT,
    image_count        BIGINT
);
CREATE INDEX exports_creator ON exports (creator_id, created_at DESC);
CREATE INDEX exports_status ON exports (status, updated_at);

CREATE TABLE shared_exports (
    export_id UUID NOT NULL REFERENCES exports (export_id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (export_id, user_id)
);
CREATE INDEX shared_exports_user ON shared_exports (user_id);

CREATE TABLE exportable_fields (
    field_id    UUID PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    path        TEXT NOT NULL UNIQUE,
    "group"     TEXT NOT NULL,
    is_default  BOOLEAN NOT NULL DEFAULT FALSE,
    position    INTEGER NOT NULL
);

CREATE TABLE export_fields (
    export_id UUID NOT NULL REFERENCES exports (export_id) ON DELETE CASCADE,
    field_id  UUID NOT NULL REFERENCES exportable_fields (field_id),
    position  INTEGER NOT NULL,
    PRIMARY KEY (export_id, field_id)
);

-- Trigram indexes so the CONTAINS methods (LIKE '%phrase%') do not scan every RDO.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX observations_observer_trgm ON observations USING gin (observer_id gin_trgm_ops);
CREATE INDEX observations_uuid_trgm ON observations USING gin (observation_uuid gin_trgm_ops);
CREATE INDEX observations_page_names_trgm ON observations USING gin (page_names gin_trgm_ops);
CREATE INDEX observations_categories_trgm ON observations USING gin (categories gin_trgm_ops);
CREATE INDEX observations_search_text_trgm ON observations USING gin (search_text gin_trgm_ops);

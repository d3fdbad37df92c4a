-- aao-export attached to the Ad Observatory's database: everything of ours, in our own schema.
--
-- These statements run with `search_path` = our schema (`aao_export` unless configured), then
-- `public`, so every unqualified CREATE lands in our schema. The AAO's tables (public) are
-- named with their schema wherever we write them, and only rows are written, never their
-- definitions: `aao-export migrate` checks the AAO's schema before and never creates, alters or
-- drops anything in it.
--
-- Our record of an export lives in our `exports` (times in epoch milliseconds, the lease,
-- progress, sizes, notices: the same columns as our own databases have) and is kept in step
-- with the AAO's `public.exports` row by the triggers below, in the same transaction, with the
-- values the AAO's API reads: its four statuses (our `expired` stays `completed` there: the
-- AAO computes expiry on read), naive UTC TIMESTAMPs, `object_location`. Export ids are UUIDs
-- as text, as the AAO keeps them. An export the AAO's API created is adopted into ours when
-- we first look at it; one it deleted leaves ours (see `attached.rs`).

-- Substring search over the catalogue. Trusted since PostgreSQL 13: the database owner's
-- CREATE privilege suffices. Installed into our schema when not there already.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- ---- times as the AAO stores them
CREATE FUNCTION epoch_ms(t TIMESTAMP) RETURNS BIGINT
    LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT CAST(EXTRACT(EPOCH FROM t) * 1000 AS BIGINT) $$;
CREATE FUNCTION naive_utc(ms BIGINT) RETURNS TIMESTAMP
    LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT to_timestamp(ms / 1000.0) AT TIME ZONE 'UTC' $$;

-- ---- the search catalogue (the same as our own databases' `catalogue`)
CREATE TABLE catalogue (
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
    search_text      TEXT NOT NULL,
    image_count      BIGINT NOT NULL DEFAULT 0,
    image_bytes      BIGINT NOT NULL DEFAULT 0,
    rdo_bytes        BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX observations_newest ON catalogue (observed_at DESC, observation_id DESC);
CREATE INDEX observations_observer ON catalogue (observer_id);
CREATE INDEX observations_observer_trgm ON catalogue USING gin (observer_id gin_trgm_ops);
CREATE INDEX observations_uuid_trgm ON catalogue USING gin (observation_uuid gin_trgm_ops);
CREATE INDEX observations_page_names_trgm ON catalogue USING gin (page_names gin_trgm_ops);
CREATE INDEX observations_categories_trgm ON catalogue USING gin (categories gin_trgm_ops);
CREATE INDEX observations_search_text_trgm ON catalogue USING gin (search_text gin_trgm_ops);

CREATE TABLE catalogue_objects (
    object_key     TEXT PRIMARY KEY,
    version        TEXT NOT NULL,
    outcome        TEXT NOT NULL CHECK (outcome IN ('indexed', 'withdrawn', 'unparseable')),
    observation_id TEXT,
    detail         TEXT
);
CREATE INDEX catalogue_objects_outcome ON catalogue_objects (outcome);

-- ---- the fields our API offers (seeded by `migrate`, as in our own databases); the AAO's
-- `public.exportable_fields` stays the AAO's. Ids are UUIDs as text, like every id here.
CREATE TABLE exportable_fields (
    field_id    TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    path        TEXT NOT NULL UNIQUE,
    "group"     TEXT NOT NULL,
    is_default  BOOLEAN NOT NULL DEFAULT FALSE,
    position    INTEGER NOT NULL
);

-- ---- our record of each export, kept in step with the AAO's row
CREATE TABLE exports (
    export_id            TEXT PRIMARY KEY,
    creator_id           TEXT NOT NULL,
    include_images       BOOLEAN NOT NULL,
    query_string         TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'expired')),
    s3_url               TEXT,
    object_location      TEXT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    started_at           BIGINT,
    completed_at         BIGINT,
    message              TEXT,
    attempt              INTEGER NOT NULL DEFAULT 1,
    max_retries          INTEGER NOT NULL DEFAULT 3,
    lease_owner          TEXT,
    lease_expires_at     BIGINT,
    progress_processed   BIGINT NOT NULL DEFAULT 0,
    progress_total       BIGINT,
    size_bytes           BIGINT,
    ad_count             BIGINT,
    image_count          BIGINT,
    field_paths          TEXT NOT NULL DEFAULT '[]',
    rescued_at           BIGINT,
    notice_due_at        BIGINT,
    notice_claimed_until BIGINT,
    notice_attempts      INTEGER NOT NULL DEFAULT 0,
    notice_sent_at       BIGINT
);
CREATE INDEX exports_creator ON exports (creator_id, created_at DESC);
CREATE INDEX exports_status ON exports (status, updated_at);
CREATE INDEX exports_lease ON exports (status, lease_expires_at);
CREATE INDEX exports_notice_due ON exports (notice_due_at) WHERE notice_due_at IS NOT NULL;

-- The fields of the exports created through our API, in their order, by our field ids; the
-- trigger below records them in the AAO's `export_fields` too, by the AAO's field of each path.
CREATE TABLE export_fields (
    export_id TEXT NOT NULL REFERENCES exports (export_id) ON DELETE CASCADE,
    field_id  TEXT NOT NULL REFERENCES exportable_fields (field_id),
    position  INTEGER NOT NULL,
    PRIMARY KEY (export_id, field_id)
);

CREATE TABLE export_downloads (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    export_id     TEXT NOT NULL REFERENCES exports (export_id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL,
    downloaded_at BIGINT NOT NULL,
    via           TEXT NOT NULL CHECK (via IN ('link', 'api'))
);
CREATE INDEX export_downloads_export ON export_downloads (export_id, downloaded_at);

-- The AAO's row of an export, as the AAO's API writes it: its statuses, naive UTC times.
CREATE FUNCTION aao_status(status TEXT) RETURNS public.exportstatus
    LANGUAGE sql IMMUTABLE STRICT
    AS $$ SELECT CAST(CASE status WHEN 'expired' THEN 'completed' ELSE status END AS public.exportstatus) $$;

CREATE FUNCTION mirror_export() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        -- The AAO's own order: shares, fields, then the export.
        DELETE FROM public.shared_exports WHERE export_id = OLD.export_id;
        DELETE FROM public.export_fields WHERE export_id = OLD.export_id;
        DELETE FROM public.exports WHERE id = OLD.export_id;
        RETURN OLD;
    END IF;
    IF TG_OP = 'INSERT' THEN
        -- An export the AAO's API created is already there (adopted): nothing to write.
        INSERT INTO public.exports (id, creator_id, include_images, query_string, status, created_at, updated_at,
            started_at, completed_at, message, object_location)
        VALUES (NEW.export_id, NEW.creator_id, NEW.include_images, NEW.query_string, aao_status(NEW.status),
            naive_utc(NEW.created_at), naive_utc(NEW.updated_at), naive_utc(NEW.started_at),
            naive_utc(NEW.completed_at), NEW.message, NEW.object_location)
        ON CONFLICT (id) DO NOTHING;
        RETURN NEW;
    END IF;
    -- Only what the AAO's row holds: a lease renewal or progress alone does not write it.
    IF (NEW.status, NEW.include_images, NEW.query_string, NEW.created_at, NEW.started_at, NEW.completed_at,
            NEW.message, NEW.object_location)
        IS DISTINCT FROM (OLD.status, OLD.include_images, OLD.query_string, OLD.created_at, OLD.started_at,
            OLD.completed_at, OLD.message, OLD.object_location) THEN
        UPDATE public.exports SET status = aao_status(NEW.status), include_images = NEW.include_images,
            query_string = NEW.query_string, created_at = naive_utc(NEW.created_at),
            updated_at = naive_utc(NEW.updated_at), started_at = naive_utc(NEW.started_at),
            completed_at = naive_utc(NEW.completed_at), message = NEW.message, object_location = NEW.object_location
        WHERE id = NEW.export_id;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER exports_mirror AFTER INSERT OR UPDATE OR DELETE ON exports
    FOR EACH ROW EXECUTE FUNCTION mirror_export();

-- A field of an export we created, recorded as the AAO's field with the same path (if the AAO
-- offers one: its field ids are its own).
CREATE FUNCTION mirror_export_field() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.export_fields (export_id, field_id)
    SELECT NEW.export_id, min(aao.id)
    FROM exportable_fields ours JOIN public.exportable_fields aao ON aao.path = ours.path
    WHERE ours.field_id = NEW.field_id
    HAVING min(aao.id) IS NOT NULL
    ON CONFLICT DO NOTHING;
    RETURN NEW;
END $$;

CREATE TRIGGER export_fields_mirror AFTER INSERT ON export_fields
    FOR EACH ROW EXECUTE FUNCTION mirror_export_field();

-- ---- sign-in and keys of our own
-- An API key of ours ("aao_{key_id}_{secret}"); the AAO's keys stay in `public.api_keys`.
CREATE TABLE api_keys (
    key_id      TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE failed_sign_ins (
    username       TEXT PRIMARY KEY,
    failures       INTEGER NOT NULL,
    last_failed_at BIGINT NOT NULL
);

-- ---- the database queue (when no SQS queue is configured)
CREATE TABLE job_queue (
    message_id    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    body          TEXT NOT NULL,
    sent_at       BIGINT NOT NULL,
    visible_at    BIGINT NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt       TEXT,
    dead          BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX job_queue_ready ON job_queue (dead, visible_at, message_id);

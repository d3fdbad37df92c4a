-- The service's own tables: API keys and the database job queue.

-- An API key is "aao_{key_id}_{secret}": found by key_id, the secret checked against its SHA-256.
CREATE TABLE api_keys (
    key_id      TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX api_keys_user ON api_keys (user_id);

-- The database queue, with SQS semantics: a received message is hidden until visible_at and
-- comes back unless deleted with the receipt of that receive; dead messages are set aside.
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

-- The rescuer looks for leases that ran out.
CREATE INDEX exports_lease ON exports (status, lease_expires_at);

-- The requested field paths, in order, as a JSON list: `export_fields` keeps the relation the spec
-- asks for; this copy lets a list of exports load without reading one row per field per export.
ALTER TABLE exports ADD COLUMN field_paths TEXT NOT NULL DEFAULT '[]';

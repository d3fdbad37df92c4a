-- Who was handed an export's file, and when (issue 11): one row each time the service gives a
-- user a download URL for one export, through GET /exports/{id}/download (via 'link') or a status
-- read that carried a URL (via 'api'). On S3 the fetch itself never reaches us, so handing out
-- the URL is what can be recorded. The rows go with their export; user_id has no foreign key so
-- that the history outlives a removed user (the name is then unknown).
CREATE TABLE export_downloads (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    export_id     BLOB NOT NULL REFERENCES exports (export_id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL,
    downloaded_at BIGINT NOT NULL,
    via           TEXT NOT NULL CHECK (via IN ('link', 'api'))
);
-- The listing (newest first) and the status object's count.
CREATE INDEX export_downloads_export ON export_downloads (export_id, downloaded_at);

-- Rate limits (a preview per user, say): hits counted per bucket in fixed windows, in the
-- database so that every API process and Lambda shares the count. One upsert per hit answers
-- how many the window holds; the upkeep pass deletes windows that have ended.
CREATE TABLE rate_limits (
    bucket       TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    window_end   BIGINT NOT NULL,
    hits         INTEGER NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_limits_window_end ON rate_limits (window_end);

-- What `aao-export users keys` lists of an API key, and when it stops working: a label (what the
-- key is for; `serve --demo` labels its key "demo" and revokes the one it made the time before),
-- an optional expiry, and when it was last used (recorded at most once a minute).
ALTER TABLE api_keys ADD COLUMN label TEXT;
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;

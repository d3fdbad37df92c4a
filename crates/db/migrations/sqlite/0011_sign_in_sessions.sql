-- Signed-in sessions: a session token names its row (its `sid` claim), so that signing out or a
-- new password ends the session at once rather than when the token expires. Tokens without a
-- `sid` (for scripts, or made by the AAO's API) are not sessions and are not affected. The upkeep
-- pass forgets rows whose tokens have expired.
CREATE TABLE sign_in_sessions (
    session_id TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sign_in_sessions_user ON sign_in_sessions (user_id);
CREATE INDEX sign_in_sessions_expires ON sign_in_sessions (expires_at);

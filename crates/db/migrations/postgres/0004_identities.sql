-- Signing in with a password (issue 9).

-- The AAO's sign-in identities, as the AAO defines them: one per user and provider. A `local`
-- identity's provider_user_id is the username and password its hash (argon2 PHC string, or the
-- AAO's legacy unsalted MD5 hex digest until its owner next signs in).
CREATE TABLE user_identities (
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider         TEXT NOT NULL,
    provider_user_id TEXT NOT NULL,
    password         TEXT,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (user_id, provider)
);
CREATE UNIQUE INDEX user_identities_provider_user ON user_identities (provider, provider_user_id);

-- Failed sign-ins per username (known or not), for the short lockout after repeated failures.
-- In the database, so that every API process and Lambda sees the same count.
CREATE TABLE failed_sign_ins (
    username       TEXT PRIMARY KEY,
    failures       INTEGER NOT NULL,
    last_failed_at BIGINT NOT NULL
);

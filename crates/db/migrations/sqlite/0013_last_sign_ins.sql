-- When each user last signed in (with a password or through the identity provider), for the
-- administrators' list of users. A table of our own: the AAO's `users` has no such column and
-- stays as its API writes it.
CREATE TABLE last_sign_ins (
    user_id      TEXT PRIMARY KEY,
    signed_in_at BIGINT NOT NULL
);

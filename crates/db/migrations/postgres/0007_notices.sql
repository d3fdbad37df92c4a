-- The email notice of an export's final state, as an outbox on its row: made due by the same
-- UPDATE that records `completed` or `failed` (only when the creator has an email address),
-- claimed by compare-and-set by whichever process sends next, and marked sent. A crash between
-- recording and sending leaves it due; one between claiming and sending lets the claim run out.
ALTER TABLE exports ADD COLUMN notice_due_at BIGINT;
ALTER TABLE exports ADD COLUMN notice_claimed_until BIGINT;
ALTER TABLE exports ADD COLUMN notice_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE exports ADD COLUMN notice_sent_at BIGINT;
CREATE INDEX exports_notice_due ON exports (notice_due_at) WHERE notice_due_at IS NOT NULL;

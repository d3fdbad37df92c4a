-- When the rescuer last sent a stuck export's message again: it sends at most one per export per
-- waiting period, and when several rescuers run, only the one that sets this sends.
ALTER TABLE exports ADD COLUMN rescued_at BIGINT;

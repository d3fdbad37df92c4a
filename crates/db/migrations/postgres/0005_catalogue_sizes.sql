-- What a preview needs to estimate an export's size as a sum over the matching ads, without
-- reading them: each ad's images (the `media[]` objects found in the observations store) and
-- their bytes, and the size of the stored RDO text.
ALTER TABLE observations ADD COLUMN image_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE observations ADD COLUMN image_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE observations ADD COLUMN rdo_bytes BIGINT NOT NULL DEFAULT 0;
-- Ads indexed before this migration have no sizes yet: forgetting the versions the indexer saw
-- makes the next `aao-export index` read every RDO once more and measure its images.
UPDATE catalogue_objects SET version = '' WHERE outcome = 'indexed';

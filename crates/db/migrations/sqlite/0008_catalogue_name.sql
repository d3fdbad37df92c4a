-- The search catalogue is ours, not the AAO's id registry (also called `observations` in the
-- AAO's database, where this service may attach): one name for it in every flavour.
ALTER TABLE observations RENAME TO catalogue;

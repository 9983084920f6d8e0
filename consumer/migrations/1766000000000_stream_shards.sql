-- Up Migration

-- One row per stream shard: each shard's batches lock and advance their own row, so consumers of
-- different shards never wait for one another (the single `tallies` row was one lock for all).
-- The seq screens see is tallies.seq (host changes) plus every shard's seq: each part only
-- grows, so the sum only grows, and two reads with the same sum saw the same state.
CREATE TABLE tally_shards (
  shard smallint PRIMARY KEY CHECK (shard >= 0),
  seq bigint NOT NULL DEFAULT 0 CHECK (seq >= 0),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Per-round totals per shard, for the same reason.
ALTER TABLE round_tallies DROP CONSTRAINT round_tallies_pkey;
ALTER TABLE round_tallies ADD COLUMN shard smallint NOT NULL DEFAULT 0 CHECK (shard >= 0);
ALTER TABLE round_tallies ALTER COLUMN shard DROP DEFAULT;
ALTER TABLE round_tallies ADD PRIMARY KEY (round, shard);

-- The all-time totals were the hot row; per-round totals (round_tallies) replace them.
ALTER TABLE tallies DROP COLUMN cats, DROP COLUMN dogs;

CREATE OR REPLACE VIEW current_round AS
SELECT r.round, r.voting, r.results, r.opened_at, r.closed_at, r.changed_seq,
       coalesce((SELECT sum(t.cats) FROM round_tallies t WHERE t.round = r.round), 0)::bigint AS cats,
       coalesce((SELECT sum(t.dogs) FROM round_tallies t WHERE t.round = r.round), 0)::bigint AS dogs,
       (s.seq + coalesce((SELECT sum(seq) FROM tally_shards), 0))::bigint AS seq,
       greatest(s.updated_at, (SELECT max(updated_at) FROM tally_shards)) AS updated_at
  FROM (SELECT * FROM rounds ORDER BY round DESC LIMIT 1) r
 CROSS JOIN tallies s
 WHERE s.id;

DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'livevote_server') THEN
    GRANT SELECT ON tally_shards TO livevote_server;
  END IF;
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'livevote_consumer') THEN
    GRANT SELECT, INSERT, UPDATE ON tally_shards TO livevote_consumer;
    REVOKE UPDATE ON tallies FROM livevote_consumer;
  END IF;
END
$$;

-- Down Migration
DROP VIEW current_round;
ALTER TABLE tallies ADD COLUMN cats bigint NOT NULL DEFAULT 0 CHECK (cats >= 0), ADD COLUMN dogs bigint NOT NULL DEFAULT 0 CHECK (dogs >= 0);
UPDATE tallies SET cats = (SELECT coalesce(sum(cats), 0) FROM round_tallies),
                   dogs = (SELECT coalesce(sum(dogs), 0) FROM round_tallies),
                   seq = seq + (SELECT coalesce(sum(seq), 0) FROM tally_shards);
CREATE TEMPORARY TABLE round_totals AS SELECT round, sum(cats)::bigint AS cats, sum(dogs)::bigint AS dogs FROM round_tallies GROUP BY round;
DELETE FROM round_tallies;
ALTER TABLE round_tallies DROP CONSTRAINT round_tallies_pkey;
ALTER TABLE round_tallies DROP COLUMN shard;
ALTER TABLE round_tallies ADD PRIMARY KEY (round);
INSERT INTO round_tallies (round, cats, dogs) SELECT round, cats, dogs FROM round_totals;
DROP TABLE round_totals;
DROP TABLE tally_shards;
CREATE VIEW current_round AS
SELECT r.round, r.voting, r.results, r.opened_at, r.closed_at, r.changed_seq,
       coalesce(t.cats, 0) AS cats, coalesce(t.dogs, 0) AS dogs, s.seq, s.updated_at
  FROM (SELECT * FROM rounds ORDER BY round DESC LIMIT 1) r
  LEFT JOIN round_tallies t USING (round)
 CROSS JOIN tallies s
 WHERE s.id;
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'livevote_server') THEN GRANT SELECT ON current_round TO livevote_server; END IF;
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'livevote_consumer') THEN
    GRANT SELECT ON current_round TO livevote_consumer;
    GRANT UPDATE ON tallies TO livevote_consumer;
  END IF;
END
$$;

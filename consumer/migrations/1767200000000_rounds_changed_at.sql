-- Up Migration

-- When the round's host state last changed, and the tally seq screens saw with that change
-- (`changed_seq` is only the host changes' own part of it). While a round's results are hidden,
-- what the public sees carries this seq and time instead of the tally's: nothing public moves
-- with votes, so nobody can count them by watching.
ALTER TABLE rounds ADD COLUMN changed_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE rounds ADD COLUMN change_tally_seq bigint NOT NULL DEFAULT 0 CHECK (change_tally_seq >= 0);
UPDATE rounds SET changed_at = coalesce(closed_at, opened_at),
                  change_tally_seq = (SELECT s.seq + coalesce((SELECT sum(seq) FROM tally_shards), 0) FROM tallies s WHERE s.id);

CREATE OR REPLACE VIEW current_round AS
SELECT r.round, r.voting, r.results, r.opened_at, r.closed_at, r.changed_seq,
       coalesce((SELECT sum(t.cats) FROM round_tallies t WHERE t.round = r.round), 0)::bigint AS cats,
       coalesce((SELECT sum(t.dogs) FROM round_tallies t WHERE t.round = r.round), 0)::bigint AS dogs,
       (s.seq + coalesce((SELECT sum(seq) FROM tally_shards), 0))::bigint AS seq,
       greatest(s.updated_at, (SELECT max(updated_at) FROM tally_shards)) AS updated_at,
       r.changed_at, r.change_tally_seq
  FROM (SELECT * FROM rounds ORDER BY round DESC LIMIT 1) r
 CROSS JOIN tallies s
 WHERE s.id;

DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'livevote_server') THEN
    GRANT UPDATE (changed_at, change_tally_seq) ON rounds TO livevote_server;
  END IF;
END
$$;

-- Down Migration
-- A view cannot lose a column in place: made again, with its grants.
DROP VIEW current_round;
CREATE VIEW current_round AS
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
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'livevote_server') THEN GRANT SELECT ON current_round TO livevote_server; END IF;
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'livevote_consumer') THEN GRANT SELECT ON current_round TO livevote_consumer; END IF;
END
$$;
ALTER TABLE rounds DROP COLUMN changed_at, DROP COLUMN change_tally_seq;

-- Up Migration

-- Host-controlled rounds. The servers write this table (host routes); `changed_seq` is the tally
-- seq of the round's last host change, which orders the copy of the current round's state that
-- Redis holds for the vote script (a copy never replaces a newer one).
CREATE TABLE rounds (
  round integer PRIMARY KEY CHECK (round > 0),
  voting text NOT NULL DEFAULT 'open' CHECK (voting IN ('open', 'closed')),
  results text NOT NULL DEFAULT 'shown' CHECK (results IN ('shown', 'hidden')),
  opened_at timestamptz NOT NULL DEFAULT now(),
  -- When voting last closed; NULL while it is open.
  closed_at timestamptz,
  changed_seq bigint NOT NULL DEFAULT 0 CHECK (changed_seq >= 0)
);
INSERT INTO rounds (round) VALUES (1);

-- Per-round totals; the consumer adds each batch here. The foreign key means a vote can only
-- count to a round the record knows.
CREATE TABLE round_tallies (
  round integer PRIMARY KEY REFERENCES rounds,
  cats bigint NOT NULL DEFAULT 0 CHECK (cats >= 0),
  dogs bigint NOT NULL DEFAULT 0 CHECK (dogs >= 0)
);
-- Votes counted before rounds existed are round 1's.
INSERT INTO round_tallies (round, cats, dogs) SELECT 1, cats, dogs FROM tallies WHERE id;
ALTER TABLE applied_votes ADD COLUMN round integer NOT NULL DEFAULT 1;
ALTER TABLE applied_votes ALTER COLUMN round DROP DEFAULT;

-- The current round as every reader serves it: its state, its numbers, and the tally seq (which
-- every counted batch and every host change moves forward). One definition for the server's
-- reads and the consumer's publish.
CREATE VIEW current_round AS
SELECT r.round, r.voting, r.results, r.opened_at, r.closed_at, r.changed_seq,
       coalesce(t.cats, 0) AS cats, coalesce(t.dogs, 0) AS dogs,
       s.seq, s.updated_at
  FROM (SELECT * FROM rounds ORDER BY round DESC LIMIT 1) r
  LEFT JOIN round_tallies t USING (round)
 CROSS JOIN tallies s
 WHERE s.id;

DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'livevote_server') THEN
    GRANT SELECT, INSERT ON rounds TO livevote_server;
    GRANT UPDATE (voting, results, closed_at, changed_seq) ON rounds TO livevote_server;
    GRANT SELECT ON round_tallies, current_round TO livevote_server;
    -- A host change moves the tally seq, under the same row lock the consumer's batches take.
    GRANT UPDATE (seq, updated_at) ON tallies TO livevote_server;
    GRANT SELECT (round) ON applied_votes TO livevote_server;
  END IF;
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'livevote_consumer') THEN
    GRANT SELECT ON rounds, current_round TO livevote_consumer;
    GRANT SELECT, INSERT, UPDATE ON round_tallies TO livevote_consumer;
  END IF;
END
$$;

-- Down Migration
DROP VIEW current_round;
ALTER TABLE applied_votes DROP COLUMN round;
DROP TABLE round_tallies;
DROP TABLE rounds;

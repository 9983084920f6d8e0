-- Up Migration

-- One row holds both totals and the sequence number, so a reader sees a consistent
-- snapshot in one read and one UPDATE per batch moves all three together.
CREATE TABLE tallies (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  cats bigint NOT NULL DEFAULT 0 CHECK (cats >= 0),
  dogs bigint NOT NULL DEFAULT 0 CHECK (dogs >= 0),
  seq bigint NOT NULL DEFAULT 0 CHECK (seq >= 0),
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO tallies DEFAULT VALUES;

-- The dedupe record: a vote ID is counted only by the transaction that inserts it here.
-- `seq` is the tally that first included the vote (answers GET /api/vote/:id).
CREATE TABLE applied_votes (
  vid text PRIMARY KEY,
  option text NOT NULL CHECK (option IN ('cats', 'dogs')),
  seq bigint NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);
-- BRIN, not B-tree: rows arrive in applied_at order, so pruning finds them by block range
-- while each insert pays next to nothing for the index.
CREATE INDEX applied_votes_applied_at_idx ON applied_votes USING brin (applied_at);

-- Least privilege where the deployment created per-service login roles (the Helm chart and
-- the local embedded default do; a bare database used by tests may not have them).
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'livevote_server') THEN
    GRANT SELECT ON tallies TO livevote_server;
    GRANT SELECT (vid, seq) ON applied_votes TO livevote_server;
  END IF;
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'livevote_consumer') THEN
    GRANT SELECT, UPDATE ON tallies TO livevote_consumer;
    GRANT SELECT, INSERT, DELETE ON applied_votes TO livevote_consumer;
  END IF;
END
$$;

-- Down Migration
DROP TABLE applied_votes;
DROP TABLE tallies;

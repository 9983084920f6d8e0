-- Up Migration

-- One row per host change (new round, open/close, hide/reveal), written in the change's own
-- transaction: a change is committed exactly when its row is. The key is the request's
-- Idempotency-Key (or one the server chose): a retry with it is answered from here and changes
-- nothing twice, and a server whose COMMIT got no answer looks here to learn whether it happened.
CREATE TABLE host_changes (
  key text PRIMARY KEY CHECK (key ~ '^[A-Za-z0-9_.:-]{8,128}$'),
  -- What was asked (route and body, canonical): the same key for another request is refused.
  request text NOT NULL,
  status smallint NOT NULL CHECK (status IN (200, 201)),
  answer jsonb NOT NULL,
  -- What it changed ('round', 'voting', 'results'); empty when it asked for what already was.
  changes text[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX host_changes_created_at_idx ON host_changes (created_at);

DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'livevote_server') THEN
    GRANT SELECT, INSERT, DELETE ON host_changes TO livevote_server;
  END IF;
END
$$;

-- Down Migration
DROP TABLE host_changes;

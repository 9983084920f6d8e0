-- Up Migration

-- Host sessions are signed cookies that every server checks without a lookup; each carries the
-- epoch it was issued in. "Sign out everywhere" moves the epoch on: every cookie of an earlier
-- one is refused. Kept in PostgreSQL, not Redis: a Redis that lost its data must not bring
-- revoked sessions back.
CREATE TABLE host_session_epoch (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  epoch integer NOT NULL DEFAULT 0 CHECK (epoch >= 0),
  changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO host_session_epoch DEFAULT VALUES;

DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'livevote_server') THEN
    GRANT SELECT, UPDATE (epoch, changed_at) ON host_session_epoch TO livevote_server;
  END IF;
END
$$;

-- Down Migration
DROP TABLE host_session_epoch;

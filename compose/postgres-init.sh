# Run once by the postgres image's entrypoint when the data directory is new (mounted into
# /docker-entrypoint-initdb.d by compose.yaml). The chart's templates/postgresql.yaml runs the same
# SQL (system-tests/compose.test.ts checks they stay the same): one login role per service; the
# migrator owns the database, and the migrations grant the server SELECT and the consumer what it
# writes. Passwords come from the files the credentials service wrote, as psql variables, so psql
# quotes them, not the shell. Sourced by the entrypoint: no shell options of its own.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v migrator_pw="$(cat /run/livevote/migrator-password)" \
  -v server_pw="$(cat /run/livevote/server-password)" \
  -v consumer_pw="$(cat /run/livevote/consumer-password)" <<'SQL'
CREATE ROLE livevote_migrator LOGIN PASSWORD :'migrator_pw';
CREATE ROLE livevote_server LOGIN PASSWORD :'server_pw';
CREATE ROLE livevote_consumer LOGIN PASSWORD :'consumer_pw';
CREATE DATABASE livevote OWNER livevote_migrator;
REVOKE ALL ON DATABASE livevote FROM PUBLIC;
GRANT CONNECT ON DATABASE livevote TO livevote_server, livevote_consumer;
SQL

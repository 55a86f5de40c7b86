#!/bin/sh
# Run once by the postgres image when the primary's data folder is created: a role that may only
# stream WAL, a replication slot so the primary keeps the WAL its standby has not received yet, and
# the pg_hba line that lets the standby connect for replication (the image's own line covers
# ordinary connections only).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set=password="$POSTGRES_REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'password';
SELECT pg_create_physical_replication_slot('db2');
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"

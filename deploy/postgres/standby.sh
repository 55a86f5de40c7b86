#!/bin/sh
# The standby. On its first start (an empty volume) it copies the primary with pg_basebackup
# (-R: it starts in recovery, streaming from db1 through the slot made by primary-init.sh);
# later starts find the copy and only start the server. It answers read-only connections, which
# the workstation skips (target_session_attrs=read-write) until it is promoted.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_isready --host=db1 --port=5432 --quiet; do sleep 1; done
    PGPASSWORD="$POSTGRES_REPLICATION_PASSWORD" pg_basebackup --host=db1 --port=5432 \
        --username=replicator --pgdata="$PGDATA" --slot=db2 \
        --write-recovery-conf --wal-method=stream --checkpoint=fast
    chmod 0700 "$PGDATA"
fi
# cluster_name is the name the primary waits for when made synchronous; the standby itself waits
# for no one (else, once promoted, every commit would hang waiting for a standby it does not have).
exec postgres -c cluster_name=db2 -c hot_standby=on -c synchronous_standby_names=

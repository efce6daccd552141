#!/usr/bin/env bash
# A PostgreSQL server on loopback for a team-style MLflow tracking server (docs/cluster.md),
# used by the cluster tests. Needs root: it installs Debian's postgresql if it is
# missing and runs the server as the postgres user.
#
#   tests/cluster/postgres.sh start DIR PORT PASSWORD DB...   cluster in DIR; role "mlflow"
#                                                             with PASSWORD owns each DB
#   tests/cluster/postgres.sh stop DIR
#
# The password is read from the command line only to set the role's password (via stdin to
# psql, so it is not in any process list after this script returns).
set -euo pipefail

action=${1:?usage: postgres.sh start DIR PORT PASSWORD DB... | stop DIR}
dir=$(realpath -m "${2:?usage: postgres.sh start|stop DIR ...}")

bindir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

if [ "$action" = stop ]; then
    bin=$(bindir)
    if [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ]; then
        runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    fi
    exit 0
fi
[ "$action" = start ] || { echo "postgres.sh: unknown action '$action' (start, stop)" >&2; exit 2; }
port=${3:?PORT}
password=${4:?PASSWORD}
shift 4
[ $# -gt 0 ] || { echo "postgres.sh: name at least one database" >&2; exit 2; }

if [ -z "$(bindir)" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
bin=$(bindir)

mkdir -p "$dir"
chown postgres:postgres "$dir"
if ! runuser -u postgres -- test -w "$dir"; then
    echo "postgres.sh: the postgres user cannot write $dir (a parent directory is private?)" >&2
    exit 1
fi
# Password logins only (scram), local socket in DIR, TCP on 127.0.0.1 only.
pwfile=$(mktemp "$dir/pwfile.XXXXXX")
trap 'rm -f "$pwfile"' EXIT
printf '%s\n' "$password" > "$pwfile"
chown postgres:postgres "$pwfile"
runuser -u postgres -- "$bin/initdb" -D "$dir/data" --auth=scram-sha-256 --username=postgres \
    --pwfile="$pwfile" >/dev/null
runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir" start >/dev/null

export PGPASSWORD=$password
{
    printf "CREATE ROLE mlflow LOGIN PASSWORD '%s';\n" "$password"
    for db in "$@"; do printf 'CREATE DATABASE "%s" OWNER mlflow;\n' "$db"; done
} | runuser -u postgres --preserve-environment -- psql -q -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$port" -U postgres -d postgres >/dev/null
echo "postgres.sh: PostgreSQL on 127.0.0.1:$port, databases: $*"

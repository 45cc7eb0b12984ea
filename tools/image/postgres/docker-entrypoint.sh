#!/usr/bin/env bash
# The local postgres stand-in's entrypoint: the part of the official image's docker-entrypoint.sh our manifests
# rely on. On an empty PGDATA: initdb with POSTGRES_USER (default postgres) and POSTGRES_PASSWORD (required, as
# the official image requires it), local socket connections trusted and every TCP connection by SCRAM password,
# then POSTGRES_DB created. Then the server replaces this script, listening on every address.
set -Eeuo pipefail
if [ "${1:0:1}" = - ]; then set -- postgres "$@"; fi
if [ "$1" = postgres ]; then
  : "${PGDATA:?PGDATA must be set}"
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
    user=${POSTGRES_USER:-postgres}
    db=${POSTGRES_DB:-$user}
    initdb --username="$user" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") --encoding=UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA" >/dev/null
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    printf "unix_socket_directories = '/var/run/postgresql'\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
    if [ "$db" != postgres ]; then
      pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
      # From stdin: psql interpolates :"db" (quoted as an identifier) there, never in -c.
      psql -v ON_ERROR_STOP=1 --username "$user" --dbname postgres --set db="$db" -q <<<'CREATE DATABASE :"db"'
      pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    fi
    echo "docker-entrypoint.sh: initialised $PGDATA (user $user, database $db)"
  fi
fi
exec "$@"

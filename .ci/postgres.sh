#!/usr/bin/env bash
# Starts a throwaway PostgreSQL on 127.0.0.1 for the test run and exports RESETBOT_TEST_POSTGRES_URL.
# Installs Debian's postgresql package when no server is present (CI runs as root).
# Source it: the server stops when the calling shell exits.
set -euo pipefail

find_bin() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$found" ] && [ -x "$found/initdb" ] && echo "$found"
}

pg_bin=$(find_bin || true)
if [ -z "$pg_bin" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "ci: installing PostgreSQL (Debian package)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq postgresql >/dev/null
  pg_bin=$(find_bin || true)
fi
if [ -z "$pg_bin" ]; then
  echo "ci: no PostgreSQL server available; the PostgreSQL tests will be skipped" >&2
  return 0 2>/dev/null || exit 0
fi

pg_dir=$(mktemp -d /tmp/resetbot-pg.XXXXXX)
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_postgres=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$pg_dir"
  as_postgres=(runuser -u postgres --)
fi
"${as_postgres[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
"${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
  -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" start >/dev/null
export RESETBOT_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$pg_port/postgres"
export RESETBOT_TEST_POSTGRES_DIR="$pg_dir"
stop_postgres() { "${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$pg_dir"; }
trap stop_postgres EXIT
echo "ci: PostgreSQL on 127.0.0.1:$pg_port" >&2

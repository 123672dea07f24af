#!/usr/bin/env bash
# Installs the Debian packages the production-shaped test deployment runs as processes:
# PostgreSQL (the Airflow metadata DB and the Celery result backend) and Redis (the Celery
# broker). Only when missing; idempotent and non-interactive. scripts/test.sh calls it.
#
# Nothing is started or enabled here: the tests initialise and start their own server in
# a temp dir, on a free port (tests/postgres_server.py, tests/redis_server.py).
set -euo pipefail

PACKAGES=(postgresql redis-server)

installed() {  # dpkg's view, not PATH: Debian keeps initdb/pg_ctl under /usr/lib/postgresql/N/bin
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

have_postgres() {
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1
}

missing=()
{ installed postgresql || have_postgres; } || missing+=(postgresql)
{ installed redis-server || command -v redis-server >/dev/null 2>&1; } || missing+=(redis-server)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

how="apt-get install -y --no-install-recommends ${missing[*]}"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: missing ${missing[*]} (needed by the Celery deployment tests) and apt-get is not available;" \
       "install PostgreSQL (initdb, pg_ctl) and redis-server with your package manager" >&2
  exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "error: missing ${missing[*]} (needed by the Celery deployment tests); run as root: $how" >&2
    exit 1
  fi
fi

echo "installing ${missing[*]} (Celery deployment tests) ..."
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

have_postgres || { echo "error: postgresql installed but no initdb found under /usr/lib/postgresql/*/bin" >&2; exit 1; }
command -v redis-server >/dev/null 2>&1 || { echo "error: redis-server still missing after apt-get install" >&2; exit 1; }

#!/usr/bin/env bash
# The test command: installs what it needs, then runs the whole suite (unit + a real Airflow deployment).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# PostgreSQL + Redis for the Celery deployment tests (apt-get where root). Without them only
# those tests fail, each saying what is missing; the rest of the suite still runs.
bash scripts/install_deployment_packages.sh \
  || echo "warning: PostgreSQL/Redis missing: the Celery deployment tests will fail (see above)" >&2
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"

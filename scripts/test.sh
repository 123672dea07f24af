#!/usr/bin/env bash
# The test command: installs what it needs, then runs the whole suite (unit + a real Airflow deployment).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"

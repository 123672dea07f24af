#!/usr/bin/env bash
# The demo command: installs what it needs, then runs the sample calls through the real pipeline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python scripts/demo.py "$@"

#!/usr/bin/env bash
# Installs the Debian packages callmine's sample-call generator needs (espeak-ng, sox),
# only when they are missing. Idempotent and non-interactive: a no-op when both exist.
set -euo pipefail

PACKAGES=(espeak-ng sox)

missing=()
for tool in "${PACKAGES[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: missing ${missing[*]} and apt-get is not available; install ${PACKAGES[*]} with your package manager" >&2
  exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "error: missing ${missing[*]}; need root or sudo to run: apt-get install -y ${PACKAGES[*]}" >&2
    exit 1
  fi
fi

echo "installing ${PACKAGES[*]} (missing: ${missing[*]}) ..."
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"

for tool in "${PACKAGES[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool still missing after apt-get install" >&2; exit 1; }
done

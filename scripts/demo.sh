#!/usr/bin/env bash
# The main job on the embedded store: install, generate demo data, ingest, analyse, serve
# on http://127.0.0.1:8000. Arguments go to `prexus serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .

export PREXUS_DB="${PREXUS_DB:-demo-data/prexus.db}"
rm -f "$PREXUS_DB" "$PREXUS_DB-wal" "$PREXUS_DB-shm"
.venv/bin/prexus demo demo-data --postings "${PREXUS_DEMO_POSTINGS:-5000}" --load
.venv/bin/prexus analyze
echo "Prexus: open http://127.0.0.1:8000 (Ctrl-C stops the server)"
exec .venv/bin/prexus serve "$@"

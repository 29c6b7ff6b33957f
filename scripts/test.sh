#!/usr/bin/env bash
# The whole test suite on a fresh clone: install, fetch and start Neo4j, run everything.
# Needs Python 3.11+, and Java 17 + Maven for the Neo4j tests (they skip without them,
# except under CI=true where they must run). Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

# Headless Chromium for the browser tests, from Debian (test tools cannot download one).
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
    else
        echo "chromium not installed and cannot install it here: browser tests will skip" >&2
    fi
fi

# Neo4j jars from Maven Central into ~/.cache/prexus (the tests start the server).
if command -v mvn >/dev/null 2>&1 && command -v java >/dev/null 2>&1; then
    .venv/bin/python scripts/neo4j_server.py fetch
fi

.venv/bin/ruff check .
exec .venv/bin/pytest "$@"

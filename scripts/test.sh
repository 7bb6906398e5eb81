#!/usr/bin/env bash
# Run the whole test suite (core and every first-party plugin) and build the docs strictly.
# Expects scripts/setup.sh to have run; `make test` does both, and runs this inside
# scripts/elasticsearch.sh, which exports RANKKIT_ES_URL (the Elasticsearch tests skip without it).
set -uo pipefail
cd "$(dirname "$0")/.."
venv=${RANKKIT_VENV:-.venv}

"$venv/bin/python" -m pytest -p no:cacheprovider --timeout=1200 "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "test: pytest collected no tests; that is a failure for this project" >&2
  exit 1
fi
[ "$status" -eq 0 ] || exit "$status"

"$venv/bin/mkdocs" build --strict --quiet -d "${RANKKIT_SITE_DIR:-build/site}"

#!/usr/bin/env bash
# The whole test suite: Python oracle env (first run only), strict type check + build, jest, every notebook headless.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/python-env.sh
npx tsc -p tsconfig.json
npx jest --ci "$@"
node dist/lib/cli.js notebooks

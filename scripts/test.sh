#!/usr/bin/env bash
# The whole test suite: Python oracle env (first run only), strict type check + build, jest, every notebook headless.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/python-env.sh
bash scripts/setup-tfjs-node.sh   # native TensorFlow backend from PyPI's wheel; falls back to wasm if it cannot
# our TypeScript, not tslab's bundled 5.0 (both install a `tsc` bin; npm ci may link either)
tsc=node_modules/typescript/bin/tsc
node $tsc -p tsconfig.json                  # strict build of lib/ and bench/
node $tsc -p tsconfig.test.json --noEmit    # the tests type-check too (jest itself only transpiles)
npx jest --ci "$@"
node dist/lib/cli.js notebooks

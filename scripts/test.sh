#!/usr/bin/env bash
# The whole test suite: Python oracle env (first run only; the notebooks' light venv on their first run), strict type check + build, jest, every notebook headless.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/python-env.sh oracle      # the oracles the tests compare with (the notebook runner makes its own light venv)
bash scripts/setup-tfjs-node.sh   # native TensorFlow backend from PyPI's wheel; falls back to wasm if it cannot
npm run build --silent                      # WebAssembly resampler + strict build of lib/ and bench/
# our TypeScript, not tslab's bundled 5.0 (both install a `tsc` bin; npm ci may link either)
node node_modules/typescript/bin/tsc -p tsconfig.test.json --noEmit    # the tests type-check too (jest itself only transpiles)
mkdir -p outputs
jest_status=0; nb_status=0
npx jest --ci --json --outputFile=outputs/jest-results.json "$@" || jest_status=$?
node dist/lib/cli.js notebooks || nb_status=$?
# one closing line CI can read: jest tests plus the notebook run (each notebook counts as one test)
node -e '
const r = require("./outputs/jest-results.json");
const nb = require("fs").readdirSync("notebooks").filter((f) => f.endsWith(".ipynb")).length;
const nbOk = process.argv[1] === "0";
console.log(`tests: ${r.numPassedTests + (nbOk ? nb : 0)} passed, ${r.numFailedTests + (nbOk ? 0 : 1)} failed`);
' "$nb_status"
[ "$jest_status" = 0 ] && [ "$nb_status" = 0 ]

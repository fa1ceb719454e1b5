#!/usr/bin/env bash
# Makes @tensorflow/tfjs-node usable on machines that cannot reach Google storage.
#
# tfjs-node's own install downloads libtensorflow 2.9.1 (C API) from storage.googleapis.com, which
# fails offline. The TensorFlow C and eager C API (TF_*, TFE_*) that the binding uses is also exported
# by libtensorflow_cc.so.2 / libtensorflow_framework.so.2 inside PyPI's tensorflow-cpu wheel, so this
# script:
#   1. installs @tensorflow/tfjs-node into ./node_modules without scripts and without touching
#      package.json / package-lock.json (npm install --no-save --ignore-scripts),
#   2. fetches the tensorflow-cpu wheel with `pip download` (no venv needed) and extracts only the two
#      shared libraries and the C API headers into .cache/tfjs-node/,
#   3. puts them into node_modules/@tensorflow/tfjs-node/deps/ under the names its binding.gyp and
#      scripts/install.js expect (libtensorflow.so -> libtensorflow_cc.so.2, ...),
#   4. builds the addon from source with the package's own `build-addon-from-source` script
#      (node-pre-gyp -> node-gyp; needs python3, make, g++ and Node headers),
#   5. runs a final check (backend "tensorflow", matmul, conv2d, erf, grad).
#
# Run from the project root:  bash scripts/setup-tfjs-node.sh
# Idempotent: a second run only re-checks. Never fails the caller: if anything goes wrong it says why
# and exits 0, since the project still works on the wasm/cpu backends.
#
# Knobs (environment): TFJS_NODE_VERSION (4.22.0), TFJS_NODE_TF_WHEEL (tensorflow-cpu),
#   TFJS_NODE_TF_VERSION (2.21.0), TFJS_NODE_CACHE (.cache/tfjs-node), TFJS_NODE_FORCE=1 (rebuild).
# After `npm ci` (which wipes node_modules) run this again; the cache makes it quick.
set -uo pipefail

T0=$(date +%s)
if [ -f "$PWD/package.json" ]; then ROOT="$PWD"; else ROOT="$(cd "$(dirname "$0")/.." && pwd)"; fi
TFJS_NODE_VERSION="${TFJS_NODE_VERSION:-4.22.0}"
TF_WHEEL="${TFJS_NODE_TF_WHEEL:-tensorflow-cpu}"
TF_VERSION="${TFJS_NODE_TF_VERSION:-2.21.0}"
CACHE="${TFJS_NODE_CACHE:-$ROOT/.cache/tfjs-node}"
PKG="$ROOT/node_modules/@tensorflow/tfjs-node"
GPU_PKG="$ROOT/node_modules/@tensorflow/tfjs-node-gpu"
TFDIR="$CACHE/$TF_WHEEL-$TF_VERSION"
STAMP_WANT="tfjs-node@$TFJS_NODE_VERSION $TF_WHEEL==$TF_VERSION"
mkdir -p "$CACHE" 2>/dev/null || { echo "[setup-tfjs-node] cannot create $CACHE; skipped (wasm/cpu still work)"; exit 0; }
LOG="$CACHE/setup.log"
: > "$LOG"

say() { echo "[setup-tfjs-node] $*"; }
give_up() {
  say "NOT SET UP: $*"
  say "The project keeps working without tfjs-node (wasm/cpu backends). Details: $LOG"
  exit 0
}
run_logged() { echo "+ $*" >> "$LOG"; "$@" >> "$LOG" 2>&1; }

# The final check: the project's own @tensorflow/tfjs must see the "tensorflow" backend (one tfjs-core).
final_check() {
  (cd "$ROOT" && TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}" node -e '
const tf = require("@tensorflow/tfjs");
require("@tensorflow/tfjs-node");
if (!tf.findBackendFactory("tensorflow")) throw new Error("tfjs-node registered its backend in another tfjs-core copy");
(async () => {
  if (!(await tf.setBackend("tensorflow"))) throw new Error("setBackend(tensorflow) failed");
  const binding = tf.backend().binding;
  const N = 1024, a = tf.randomNormal([N, N]), b = tf.randomNormal([N, N]);
  tf.matMul(a, b).dataSync();
  const reps = 10, s = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) { const c = tf.matMul(a, b); c.dataSync(); c.dispose(); }
  const sec = Number(process.hrtime.bigint() - s) / 1e9;
  const conv = tf.conv2d(tf.ones([1, 8, 8, 3]), tf.ones([3, 3, 3, 4]), 1, "same").dataSync()[4 * 36];
  const erf = tf.erf(tf.scalar(1)).dataSync()[0];
  const g = tf.grad((x) => x.square().sum())(tf.tensor1d([1, 2])).dataSync();
  if (conv !== 27 || Math.abs(erf - 0.8427008) > 1e-5 || g[0] !== 2 || g[1] !== 4) throw new Error("wrong results");
  console.log(`backend=${tf.getBackend()} libtensorflow=${binding.TF_Version} ` +
    `matmul1024=${(sec / reps * 1e3).toFixed(1)}ms (${(2 * N ** 3 * reps / sec / 1e9).toFixed(1)} GFLOP/s) conv2d/erf/grad ok`);
})().catch((e) => { console.error("CHECK FAILED: " + e.message); process.exit(1); });
' 2>>"$LOG") || { echo "$(grep -m1 -E "CHECK FAILED|Error" "$LOG" || tail -1 "$LOG")"; return 1; }
}

# --- 0. already done? ---------------------------------------------------------------------------
if [ "${TFJS_NODE_FORCE:-0}" != 1 ] && [ -f "$PKG/deps/.guie-stamp" ] && [ "$(cat "$PKG/deps/.guie-stamp")" = "$STAMP_WANT" ] \
   && ls "$PKG"/lib/napi-v*/tfjs_binding.node >/dev/null 2>&1; then
  if out=$(final_check); then say "already set up: $out"; exit 0; fi
  say "existing setup fails its check ($out); rebuilding"
fi

# --- 1. preflight ---------------------------------------------------------------------------------
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || give_up "only Linux x86_64 is supported (PyPI wheel libs), this is $(uname -s)-$(uname -m)"
for t in node npm python3 make g++; do command -v "$t" >/dev/null 2>&1 || give_up "'$t' not found (needed to build the addon)"; done
[ -d "$ROOT/node_modules/@tensorflow/tfjs" ] || give_up "run 'npm install' first: $ROOT/node_modules/@tensorflow/tfjs is missing"
python3 -m pip --version >/dev/null 2>&1 || give_up "python3 -m pip is not available (needed for 'pip download')"

# Node headers for node-gyp (offline it cannot download them).
NODEDIR="${npm_config_nodedir:-}"
[ -n "$NODEDIR" ] || NODEDIR="$(npm config get nodedir 2>/dev/null || true)"
case "$NODEDIR" in undefined|null) NODEDIR="";; esac
if [ -z "$NODEDIR" ] || [ ! -f "$NODEDIR/include/node/node_api.h" ]; then
  for d in "$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")" /usr /usr/local; do
    if [ -f "$d/include/node/node_api.h" ]; then NODEDIR="$d"; break; fi
  done
fi
if [ -n "$NODEDIR" ] && [ -f "$NODEDIR/include/node/node_api.h" ]; then export npm_config_nodedir="$NODEDIR"
else say "warning: no local Node headers found (include/node/node_api.h); node-gyp will try to download them"; fi

# --- 2. the npm package, without scripts and without saving ----------------------------------------
have_ver="$(node -p "require('$PKG/package.json').version" 2>/dev/null || true)"
if [ "$have_ver" != "$TFJS_NODE_VERSION" ]; then
  say "installing @tensorflow/tfjs-node@$TFJS_NODE_VERSION into node_modules (--no-save --ignore-scripts)"
  gpu_before=0; [ -d "$GPU_PKG" ] && gpu_before=1
  for f in package.json package-lock.json; do [ -f "$ROOT/$f" ] && cp -p "$ROOT/$f" "$CACHE/$f.bak"; done
  (cd "$ROOT" && run_logged npm install --no-save --ignore-scripts --no-audit --no-fund "@tensorflow/tfjs-node@$TFJS_NODE_VERSION")
  rc=$?
  for f in package.json package-lock.json; do
    if [ -f "$CACHE/$f.bak" ] && ! cmp -s "$CACHE/$f.bak" "$ROOT/$f"; then
      cp -p "$CACHE/$f.bak" "$ROOT/$f"; say "note: npm changed $f; restored it"
    fi
    rm -f "$CACHE/$f.bak"
  done
  # package-lock lists tfjs-node-gpu as optional too; npm adds it unbuilt. Drop it again if we added it.
  if [ "$gpu_before" = 0 ] && [ -d "$GPU_PKG" ] && ! ls "$GPU_PKG"/lib/napi-v*/tfjs_binding.node >/dev/null 2>&1; then
    rm -rf "$GPU_PKG"
  fi
  [ "$rc" = 0 ] || give_up "npm install of @tensorflow/tfjs-node@$TFJS_NODE_VERSION failed (see log)"
fi
[ -f "$PKG/binding.gyp" ] || give_up "$PKG/binding.gyp missing after npm install"
if [ -d "$PKG/node_modules/@tensorflow/tfjs-core" ]; then
  say "warning: tfjs-node has its own nested @tensorflow/tfjs-core; the project's tfjs may not see its backend"
fi

# --- 3. libtensorflow from the PyPI wheel (cached) -------------------------------------------------
if [ ! -f "$TFDIR/.complete" ]; then
  say "fetching $TF_WHEEL==$TF_VERSION wheel from PyPI (pip download, ~270 MB) into $CACHE"
  rm -rf "$CACHE/wheel" "$TFDIR"; mkdir -p "$CACHE/wheel"
  run_logged python3 -m pip download --no-deps --only-binary=:all: --python-version 3.11 \
      --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d "$CACHE/wheel" "$TF_WHEEL==$TF_VERSION" \
    || give_up "pip download $TF_WHEEL==$TF_VERSION failed (see log)"
  whl="$(ls "$CACHE"/wheel/*.whl 2>/dev/null | head -1)"
  [ -n "$whl" ] || give_up "pip download produced no wheel"
  run_logged python3 - "$whl" "$TFDIR" <<'PY' || give_up "could not extract libtensorflow from the wheel (see log)"
import sys, zipfile, os
whl, out = sys.argv[1], sys.argv[2]
libs = {'tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2'}
# C API headers and what they include (tsl_status.h, ctstring*.h), whose paths moved between versions:
# tensorflow/tsl/... (2.12) -> tsl/... -> xla/tsl/... (2.21).
def is_header(n):
    if not n.startswith('tensorflow/include/') or not n.endswith('.h'): return False
    rel = n[len('tensorflow/include/'):]
    return rel.startswith(('tensorflow/', 'tsl/', 'xla/')) and ('/c/' in rel or 'ctstring' in rel)
got = set()
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        if n in libs:
            dest = os.path.join(out, 'lib', os.path.basename(n)); got.add(n)
        elif is_header(n):
            dest = os.path.join(out, 'include', n[len('tensorflow/include/'):])
        else:
            continue
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with z.open(n) as src, open(dest, 'wb') as dst:
            while True:
                b = src.read(1 << 22)
                if not b: break
                dst.write(b)
missing = libs - got
if missing or not os.path.exists(os.path.join(out, 'include/tensorflow/c/eager/c_api.h')):
    sys.exit('wheel lacks %s or the eager C API header (older wheels ship _pywrap_tensorflow_internal.so instead)' % sorted(missing))
print('extracted', sorted(got))
PY
  rm -rf "$CACHE/wheel"
  touch "$TFDIR/.complete"
fi

# --- 4. deps/ under the names binding.gyp and scripts/install.js expect ----------------------------
# From here on a failure would leave an unloadable tfjs-node behind; remove it instead (as npm does
# with a failed optional dependency), so the project cleanly reports it as absent.
give_up() {
  rm -rf "$PKG"
  say "NOT SET UP: $*"
  say "Removed the half-built node_modules/@tensorflow/tfjs-node; the project keeps working on wasm/cpu. Details: $LOG"
  exit 0
}
rm -rf "$PKG/deps" "$PKG/build" "$PKG"/lib/napi-v*
mkdir -p "$PKG/deps/lib" || give_up "cannot write $PKG/deps"
cp -r "$TFDIR/include" "$PKG/deps/include"
for f in libtensorflow_cc.so.2 libtensorflow_framework.so.2; do
  ln -f "$TFDIR/lib/$f" "$PKG/deps/lib/$f" 2>/dev/null || cp -f "$TFDIR/lib/$f" "$PKG/deps/lib/$f" \
    || give_up "cannot copy $f into $PKG/deps/lib"
done
(
  cd "$PKG/deps/lib" &&
  ln -sf libtensorflow_cc.so.2 libtensorflow.so &&          # -ltensorflow (binding.gyp)
  ln -sf libtensorflow_cc.so.2 libtensorflow.so.2 &&
  ln -sf libtensorflow_cc.so.2 libtensorflow.so.2.9.1 &&    # what scripts/install.js tests for
  ln -sf libtensorflow_framework.so.2 libtensorflow_framework.so &&
  ln -sf libtensorflow_framework.so.2 libtensorflow_framework.so.2.9.1
) || give_up "cannot create library symlinks in $PKG/deps/lib"

# --- 5. build the addon with the package's own script ----------------------------------------------
say "building the tfjs-node addon against $TF_WHEEL $TF_VERSION's libtensorflow (node-gyp, nodedir=${npm_config_nodedir:-default})"
(cd "$PKG" && PATH="$PKG/node_modules/.bin:$ROOT/node_modules/.bin:$PATH" run_logged npm run build-addon-from-source) \
  || give_up "building the addon failed (see log)"
addon="$(ls "$PKG"/lib/napi-v*/tfjs_binding.node 2>/dev/null | head -1)"
[ -n "$addon" ] || give_up "build reported success but no lib/napi-v*/tfjs_binding.node exists"

# Every TF_/TFE_ symbol the addon imports must be exported by the wheel's libraries (the addon is
# loaded lazily, so a missing one would only abort the process when first called).
if command -v nm >/dev/null 2>&1; then
  missing="$(comm -23 \
    <(nm -D --undefined-only "$addon" | awk '{print $NF}' | sed 's/@.*//' | grep -E '^TFE?_' | sort -u) \
    <(nm -D --defined-only "$TFDIR/lib/libtensorflow_cc.so.2" "$TFDIR/lib/libtensorflow_framework.so.2" 2>/dev/null \
        | awk '{print $NF}' | sed 's/@.*//' | grep -E '^TFE?_' | sort -u))"
  [ -z "$missing" ] || give_up "the wheel's libraries do not export: $(echo $missing)"
fi
echo "$STAMP_WANT" > "$PKG/deps/.guie-stamp"

# --- 6. final check -------------------------------------------------------------------------------
if out=$(final_check); then
  say "OK in $(( $(date +%s) - T0 ))s: $out"
  say "GUIE_BACKEND=tensorflow (or auto) now uses it; TF_CPP_MIN_LOG_LEVEL=2 quiets TensorFlow's C++ logging."
else
  give_up "the addon was built but the final check failed: $out"
fi
exit 0

#!/usr/bin/env bash
# Makes (once) one of the project's Python environments; Python is only a test oracle and the notebook runner here.
#   python-env.sh notebooks   the notebook runner: nbclient + the tslab kernel spec, nothing else
#                             (${GUIE_NOTEBOOK_VENV:-.venv-notebooks}; `npm run lab` adds JupyterLab + plotly to it)
#   python-env.sh oracle      the test oracles: PyTorch/open_clip, TensorFlow, ONNX Runtime, FAISS, scikit-learn, TensorBoard
#                             (${GUIE_VENV:-.venv}; only `npm test` needs it)
# Re-installs when its requirements file changes. Prints nothing on a warm start; a line per step otherwise,
# with pip's own output kept in <venv>/setup.log (printed only when a step fails).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
kind="${1:-oracle}"
case "$kind" in
  notebooks) venv="${GUIE_NOTEBOOK_VENV:-$root/.venv-notebooks}"; req="$root/scripts/requirements-notebooks.txt" ;;
  oracle) venv="${GUIE_VENV:-$root/.venv}"; req="$root/scripts/requirements-oracle.txt" ;;
  *) echo "python-env.sh: unknown environment \"$kind\" (notebooks | oracle)" >&2; exit 2 ;;
esac
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
log="$venv/setup.log"
step() {   # step "what" command...: one line, the command's output into the log, the log shown if it fails
  local what="$1"; shift
  local t0=$SECONDS
  printf '[python-env %s] %s ...' "$kind" "$what" >&2
  if "$@" >>"$log" 2>&1; then printf ' done (%ss)\n' "$((SECONDS - t0))" >&2
  else printf ' FAILED\n' >&2; tail -n 40 "$log" >&2; exit 1; fi
}
mkdir -p "$venv"; : >"$log"
step "creating $venv" python3 -m venv "$venv"
step "upgrading pip" "$venv/bin/python" -m pip install -q --upgrade pip
step "installing $(grep -cvE '^\s*(#|$)' "$req") packages from $(basename "$req") (first run only)" "$venv/bin/python" -m pip install -q -r "$req"
if [ "$kind" = notebooks ]; then
  # the tslab kernel registered inside the venv, so nbclient finds it without touching the user's Jupyter
  step "registering the tslab kernel" env PATH="$root/node_modules/.bin:$PATH" "$root/node_modules/.bin/tslab" install --python="$venv/bin/python" --sys-prefix
fi
echo "$want" > "$stamp"

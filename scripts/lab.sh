#!/usr/bin/env bash
# `npm run lab`: JupyterLab with the tslab kernel on the notebooks, from the notebook runner's light venv
# (JupyterLab and plotly, whose lab extension draws the notebooks' Plotly figures, are added to it once).
# Extra arguments go to `jupyter lab` (e.g. --port 8899). It prints the URL to open.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${GUIE_NOTEBOOK_VENV:-$root/.venv-notebooks}"
bash "$root/scripts/python-env.sh" notebooks
if ! "$venv/bin/python" -c 'import jupyterlab, plotly' 2>/dev/null; then
  printf '[lab] installing JupyterLab and plotly into %s (first run only) ...' "$venv" >&2
  if "$venv/bin/python" -m pip install -q jupyterlab plotly >>"$venv/setup.log" 2>&1; then echo ' done' >&2
  else echo ' FAILED' >&2; tail -n 40 "$venv/setup.log" >&2; exit 1; fi
fi
npm run build --silent --prefix "$root"   # the notebooks import dist/
args=(--no-browser --notebook-dir="$root/notebooks")
[ "$(id -u)" = 0 ] && args+=(--allow-root)   # JupyterLab refuses to run as root without it
echo "[lab] starting JupyterLab (kernel: tslab): open the http://localhost:PORT/lab?token=... URL it prints below" >&2
export PATH="$root/node_modules/.bin:$venv/bin:$PATH" JUPYTER_PATH="$venv/share/jupyter"
exec "$venv/bin/jupyter" lab "${args[@]}" "$@"

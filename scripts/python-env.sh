#!/usr/bin/env bash
# Makes (once) the project's Python environment: test oracles and the notebook runner only.
# Re-installs when scripts/requirements-oracle.txt changes. Prints nothing on a warm start.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${GUIE_VENV:-$root/.venv}"
req="$root/scripts/requirements-oracle.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
echo "[python-env] creating $venv (first run only; a few minutes)" >&2
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip >&2 || true
"$venv/bin/python" -m pip install -q -r "$req" >&2
# Register the tslab kernel inside the venv so nbclient finds it without touching the user's Jupyter.
PATH="$root/node_modules/.bin:$PATH" "$root/node_modules/.bin/tslab" install --python="$venv/bin/python" --sys-prefix >&2
echo "$want" > "$stamp"

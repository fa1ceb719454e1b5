"""Executes one notebook headless with nbclient (the notebook runner's only Python part).

usage: run_notebook.py IN.ipynb OUT.ipynb KERNEL TIMEOUT_S
Writes the executed copy (also when a cell fails) and prints one JSON line:
{"ok": true, "cells": N, "seconds": S} or {"ok": false, "cell": i, "source": "...", "ename": "...", "evalue": "..."}.
"""
import json
import os
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

src, dst, kernel, timeout = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
nb = nbformat.read(src, as_version=4)
failure = {}


def on_cell_error(cell, cell_index, execute_reply):
    # tslab reports errors as stderr text with an error reply, not always as an "error" output
    content = execute_reply.get("content", {})
    stderr = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stderr")
    failure.update(cell=cell_index, source=cell.source, ename=content.get("ename") or "Error",
                   evalue=content.get("evalue") or stderr.strip().splitlines()[0] if stderr.strip() else content.get("evalue", ""))


client = NotebookClient(nb, kernel_name=kernel, timeout=timeout if timeout > 0 else None,
                        on_cell_error=on_cell_error,
                        resources={"metadata": {"path": os.path.dirname(os.path.abspath(src))}})
t0 = time.time()
result = {"ok": True}
try:
    client.execute()
except (CellExecutionError, CellTimeoutError) as e:
    result = {"ok": False, "cell": failure.get("cell"), "source": failure.get("source", ""),
              "ename": failure.get("ename", type(e).__name__),
              "evalue": failure.get("evalue") or (str(e).strip().splitlines() or [""])[-1]}
os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
nbformat.write(nb, dst)
result.update({"cells": sum(1 for c in nb.cells if c.cell_type == "code"), "seconds": round(time.time() - t0, 2)})
print(json.dumps(result))

"""The notebook-style example (examples/energy/notebook.py) runs as written."""

from __future__ import annotations

import os
import subprocess
import sys


def test_energy_notebook_runs(standalone, project, repo):
    env = dict(os.environ, FS_PROJECT=project)
    for name, address in standalone.addresses.items():
        env[f"FS_{name.upper()}_ADDR"] = address
    run = subprocess.run(
        [sys.executable, str(repo / "examples/energy/notebook.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert f'plan for project "{project}":' in run.stdout
    assert "2400 daily rows, 11520 readings" in run.stdout
    assert "training set consumption@1: 320 rows" in run.stdout
    assert "(320, " in run.stdout  # the set read back with polars

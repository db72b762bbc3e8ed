"""The wheel: built with `python -m build`, installed into a fresh virtual environment (CPU
torch first, as the README says), it passes `spikeapp --self-test`."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*argv, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{argv}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_wheel_installs_into_a_fresh_environment_and_passes_the_self_test(tmp_path):
    dist = tmp_path / "dist"
    # No isolation: the build backend (setuptools) comes from the test environment, so the
    # test needs no network.
    run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, ROOT)
    wheels = list(dist.glob("spikeapp-*.whl"))
    assert len(wheels) == 1
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert any(n.endswith("spikeapp/gui/main_window.py") for n in names)
    assert any(n.endswith("share/spikeapp/icons/spikeapp-256.png") for n in names)
    assert not any(n.startswith("tests/") for n in names)

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    pip = venv / "bin" / "pip"
    run(pip, "install", "--quiet", "torch==2.13.0")
    run(pip, "install", "--quiet", wheels[0])
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path))
    env.pop("PYTHONPATH", None)
    done = run(venv / "bin" / "spikeapp", "--self-test", env=env, cwd=tmp_path)
    assert "self-test passed" in done.stdout
    # The installed copy, not this checkout, ran.
    where = run(venv / "bin" / "python", "-c", "import spikeapp; print(spikeapp.__file__)",
                env=env, cwd=tmp_path).stdout
    assert str(venv) in where

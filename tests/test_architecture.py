"""Import rules: only spikeapp.gui imports Qt; only nets and training import torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "spikeapp"
QT = ("PyQt6", "pyqtgraph", "superqt")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_qt_and_torch_stay_in_their_packages():
    for path in PACKAGE.rglob("*.py"):
        part = path.relative_to(PACKAGE).parts[0]
        imported = _imports(path)
        if part != "gui":
            assert not imported & set(QT), f"{path} imports Qt"
        if part not in ("nets", "training", "gui"):
            assert "torch" not in imported, f"{path} imports torch"


def test_importing_the_core_imports_neither_qt_nor_torch():
    code = ("import sys, spikeapp, spikeapp.cli, spikeapp.io, spikeapp.detection; "
            "bad = [m for m in ('torch', 'PyQt6', 'pyqtgraph') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_import_contracts_of_pyproject_hold():
    """The layers, Qt only in the window, torch only in nets and training, session and training
    independent (import-linter reads them from pyproject.toml, lazy imports included)."""
    import shutil

    tool = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert tool, "import-linter is in the test extra"
    done = subprocess.run([tool, "--no-cache"], capture_output=True, text=True,
                          cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]

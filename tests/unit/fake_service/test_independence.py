"""The fake is written from the vendor contract alone.

A fake that shares code with callmine's engine (include.engine, same dialect) or with the
client (plugins/callmine, imported as callmine.*) drifts together with them and cannot
catch either one departing from the real service.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

FAKE_DIR = Path(__file__).resolve().parents[2] / "fake_pyai"
FORBIDDEN_ROOTS = ("include", "callmine", "plugins")
_DYNAMIC_IMPORTERS = ("import_module", "__import__")


def _forbidden(module: str) -> bool:
    return module.split(".")[0] in FORBIDDEN_ROOTS


def _dynamic_target(call: ast.Call) -> str | None:
    """The module named by importlib.import_module("...") or __import__("...")."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name in _DYNAMIC_IMPORTERS and call.args and isinstance(call.args[0], ast.Constant):
        value = call.args[0].value
        return value if isinstance(value, str) else None
    return None


def forbidden_imports(path: Path) -> list[str]:
    """Modules of the engine or the client that the file at path imports (static or importlib)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if _forbidden(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            if node.level > 1:  # climbs out of tests.fake_pyai: could reach anything
                found.append("." * node.level + (node.module or ""))
            elif node.level == 0 and node.module and _forbidden(node.module):
                found.append(node.module)
        elif isinstance(node, ast.Call) and (target := _dynamic_target(node)) and _forbidden(target):
            found.append(target)
    return found


def test_the_fake_shares_no_code_with_the_engine_or_the_client() -> None:
    sources = sorted(FAKE_DIR.rglob("*.py"))
    assert len(sources) >= 10, f"expected the fake's modules under {FAKE_DIR}"
    offenders = [f"{path.name}: {module}" for path in sources for module in forbidden_imports(path)]
    assert offenders == [], "tests/fake_pyai must be written from the contract only:\n" + "\n".join(offenders)


def test_the_scan_catches_every_way_of_importing_the_engine_or_the_client(tmp_path: Path) -> None:
    # Guard the guard: a scan that misses an import form would pass vacuously.
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import include.engine.auth\n"
        "from callmine.hooks import pyai\n"
        "from ...include import engine\n"
        "import importlib\n"
        "importlib.import_module('include.engine.signing')\n"
        "from . import fields\n"
        "import hashlib\n"
    )
    assert sorted(forbidden_imports(sample)) == ["...include", "callmine.hooks", "include.engine.auth", "include.engine.signing"]


def test_importing_the_fake_loads_neither_the_engine_nor_the_client() -> None:
    # Catches what a per-file scan cannot: a helper outside the fake that drags them in.
    # A fresh interpreter, since this test session has long imported both.
    probe = (
        "import sys, tests.fake_pyai, tests.fake_pyai.__main__, tests.fake_pyai.phrase_bank\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in %r))" % (FORBIDDEN_ROOTS,)
    )
    root = FAKE_DIR.parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "plugins"), str(root)])}
    out = subprocess.run([sys.executable, "-c", probe], cwd=root, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

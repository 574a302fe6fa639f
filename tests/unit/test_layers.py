"""The dependency rule: domain and ports import only the stdlib, the domain and ports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INNER_ALLOWED = {"domain", "ports"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", ["domain", "ports"])
def test_inner_layers_import_only_stdlib_domain_and_ports(package: str) -> None:
    offenders = {}
    for path in (ROOT / package).rglob("*.py"):
        outside = {
            name for name in _imports(path)
            if name not in INNER_ALLOWED and name not in sys.stdlib_module_names
            and name != "__future__"
        }
        if outside:
            offenders[str(path.relative_to(ROOT))] = sorted(outside)
    assert offenders == {}


def test_adapters_never_import_entrypoints() -> None:
    offenders = [
        str(p.relative_to(ROOT)) for p in (ROOT / "adapters").rglob("*.py")
        if "entrypoints" in _imports(p)
    ]
    assert offenders == []


def test_domain_never_imports_adapters() -> None:
    offenders = [
        str(p.relative_to(ROOT)) for p in (ROOT / "domain").rglob("*.py")
        if "adapters" in _imports(p)
    ]
    assert offenders == []

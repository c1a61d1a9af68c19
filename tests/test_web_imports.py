"""Web workers load only what serves requests, and the core depends on no feature."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PORTAL = ROOT / "portal"
FEATURES = {p.parent.name for p in PORTAL.glob("*/__init__.py")} - {"core"}


@pytest.mark.parametrize("package", ["alembic", "mako", "pygments", "portal.demo.seed"])
def test_the_web_process_does_not_import(package: str, web_modules: set[str]) -> None:
    loaded = sorted(m for m in web_modules if m == package or m.startswith(f"{package}."))
    assert loaded == [], f"importing wsgi loaded {len(loaded)} {package} module(s): {loaded[:3]}"


@pytest.fixture(scope="module")
def web_modules(test_env: dict[str, str]) -> set[str]:
    """Import ``wsgi`` in a fresh interpreter, as gunicorn would, and list what it loaded."""
    script = "import json, sys, wsgi; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, **test_env},
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(result.stdout))


@pytest.mark.parametrize(
    "module", sorted((PORTAL / "core").glob("*.py")), ids=lambda path: path.name
)
def test_core_imports_no_feature(module: Path) -> None:
    features = sorted(imported_features(ast.parse(module.read_text())))
    assert features == [], f"portal/core/{module.name} imports {features}; register from app.py"


def imported_features(tree: ast.Module) -> set[str]:
    """Name the feature packages a module imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            dotted = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # Relative imports resolve from portal.core; `from portal import sso` names the
            # feature in the alias, so the alias is part of the dotted name.
            package = {0: "", 1: "portal.core"}.get(node.level, "portal")
            module = ".".join(part for part in (package, node.module) if part)
            dotted = [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in dotted:
            parts = name.split(".")
            if parts[0] == "portal" and len(parts) > 1 and parts[1] in FEATURES:
                found.add(parts[1])
    return found

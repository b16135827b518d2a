"""The layers of ARCHITECTURE.md, read from the source: every import, at any depth, of every module.

    mintguard_site.urls (wiring)  ->  operators  ->  payments, wallets  ->  ledger  ->  audit, events, mintguard_site.*

Plain Python over the files (ast), so a violation fails here with the file and the import, whether
or not that code path runs in any other test.
"""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APPS = ("ledger", "wallets", "payments", "operators", "audit", "events")


def imports_of(package: str) -> list[tuple[str, str]]:
    """(file, imported module) for every absolute import in `package`, migrations excluded."""
    root = REPO / package.replace(".", "/")
    assert root.is_dir(), f"no package {package}"
    found = []
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found += [(str(path.relative_to(REPO)), name) for name in names]
    return found


def apps_imported_by(package: str) -> dict[str, list[str]]:
    """The apps `package` imports (other than itself), each with the files that import it."""
    imported: dict[str, list[str]] = {}
    for path, name in imports_of(package):
        app = name.split(".")[0]
        if app in APPS and app != package.split(".")[0]:
            imported.setdefault(app, []).append(f"{path}: import {name}")
    return imported


# What each layer may import among the apps (besides itself); mintguard_site's own modules are
# beneath every app and not listed. `audit` is a leaf and `events` uses only it (its dashboard
# actions are audited): any app may record an audit entry or an event.
ALLOWED = {
    "audit": set(),
    "events": {"audit"},
    "mintguard_site.dashboard": set(),
    "ledger": {"audit", "events"},
    "wallets": {"ledger", "audit", "events"},
    "payments": {"ledger", "audit", "events"},
}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_layer_imports_only_what_is_beneath_it(package):
    imported = apps_imported_by(package)
    forbidden = {app: where for app, where in imported.items() if app not in ALLOWED[package]}
    assert forbidden == {}, f"{package} imports apps above or beside it: {forbidden}"


def test_nothing_imports_operators_but_the_url_wiring():
    importers = []
    for package in ("ledger", "wallets", "payments", "audit", "events", "mintguard_site"):
        importers += [f"{path}: import {name}" for path, name in imports_of(package)
                      if name.split(".")[0] == "operators" and path != "mintguard_site/urls.py"]
    assert importers == []


def test_the_rules_see_a_violation(tmp_path, monkeypatch):
    """The reader itself works: a module that imports upward is caught."""
    package = tmp_path / "ledger"
    package.mkdir()
    (package / "bad.py").write_text("def f():\n    from payments.models import Order\n")
    monkeypatch.setattr(f"{__name__}.REPO", tmp_path)
    assert apps_imported_by("ledger") == {"payments": ["ledger/bad.py: import payments.models"]}

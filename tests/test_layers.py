"""The import rules of docs/architecture.md §3, checked on the source tree.

Slack names only in handlers/ and the composition root; SQL only in storage/;
HTTP and XML only in bot/providers/ (and in the composition root's transports).
The runtime packages never import the dev kit (devkit/); it plugs its commands into the CLI
through entry points (pyproject.toml).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPOSITION_ROOT = {"bot/app.py", "bot/server.py", "bot/cli.py"}
SLACK = ("slack_bolt", "slack_sdk")
SQL = ("sqlalchemy", "alembic", "psycopg")
HTTP_XML = ("requests", "urllib3", "xmltodict", "defusedxml", "http.server", "xml")
DEVKIT = ("devkit",)


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def dynamic_imports_of(path: Path) -> set[str]:
    """Module names given as literals to importlib.import_module() or __import__()."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names.add(node.args[0].value)
    return names


def modules(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py") if "migrations" not in p.parts)


def _hits(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(n for n in imports_of(path) if any(n == f or n.startswith(f + ".") for f in forbidden))


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", modules("bot", "storage"), ids=rel)
def test_slack_names_stay_in_handlers_and_the_composition_root(path):
    if rel(path) in COMPOSITION_ROOT:
        return
    assert _hits(path, SLACK) == []


@pytest.mark.parametrize("path", modules("bot", "handlers"), ids=rel)
def test_sql_stays_in_storage(path):
    if rel(path) in COMPOSITION_ROOT:
        return
    assert _hits(path, SQL) == []


@pytest.mark.parametrize("path", modules("bot", "handlers", "storage"), ids=rel)
def test_http_and_xml_stay_in_providers(path):
    if rel(path).startswith("bot/providers/") or rel(path) in COMPOSITION_ROOT:
        return
    assert _hits(path, HTTP_XML) == []


@pytest.mark.parametrize("path", modules("handlers"), ids=rel)
def test_handlers_reach_storage_and_providers_only_through_the_workflow(path):
    assert _hits(path, ("storage", "bot.providers")) == []


@pytest.mark.parametrize("path", modules("storage", "bot/providers"), ids=rel)
def test_storage_and_providers_know_nothing_above_them(path):
    assert _hits(path, ("handlers", "bot.workflow", "bot.app")) == []
    if rel(path).startswith("bot/providers/"):
        assert _hits(path, ("storage",)) == []


def _devkit_hits(path: Path) -> list[str]:
    names = imports_of(path) | dynamic_imports_of(path)
    return sorted(n for n in names if any(n == f or n.startswith(f + ".") for f in DEVKIT))


@pytest.mark.parametrize("path", modules("bot", "handlers", "storage"), ids=rel)
def test_the_runtime_never_imports_the_dev_kit(path):
    assert _devkit_hits(path) == []


def test_the_dev_kit_rule_can_fail(tmp_path):
    assert _hits(ROOT / "devkit/demo.py", ("bot",))  # the dev kit sits above the runtime and imports it
    lazy = tmp_path / "lazy.py"
    lazy.write_text("import importlib\n\n\ndef later():\n    from devkit.demo import run_demo\n"
                    "    return importlib.import_module('devkit.sandbox')\n")
    assert _devkit_hits(lazy) == ["devkit.demo", "devkit.sandbox"]


def test_the_rules_can_fail():
    assert _hits(ROOT / "bot/app.py", SLACK)  # the composition root does import Slack

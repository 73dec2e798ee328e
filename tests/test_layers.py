"""The import rules of ARCHITECTURE.md, checked on the source tree: every runtime module has one layer.

Each layer names what it may not import. Slack names only in handlers/ and the composition
root; SQL only in storage/; HTTP and XML only in bot/providers/; the dev kit (devkit/) sits
above everything and nothing in the runtime imports it (its commands plug into the CLI through
entry points in pyproject.toml). There is no list of exempt files: a module that fits no layer
fails `test_every_runtime_module_belongs_to_exactly_one_layer`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ("bot", "handlers", "storage")

SLACK = ("slack_bolt", "slack_sdk")
SQL = ("sqlalchemy", "alembic", "psycopg")
HTTP_XML = ("requests", "urllib3", "xmltodict", "defusedxml", "http", "xml", "wsgiref", "waitress")
COMPOSITION = ("bot.app", "bot.server", "bot.cli", "bot.slack_http")
DEVKIT = ("devkit",)


@dataclass(frozen=True)
class Layer:
    name: str
    paths: tuple[str, ...]  # files, or folders ending in "/"
    forbidden: tuple[str, ...]

    def holds(self, rel_path: str) -> bool:
        return any(rel_path == p or (p.endswith("/") and rel_path.startswith(p)) for p in self.paths)


# Lowest first; a layer may import the ones above it in this list that it does not forbid.
LAYERS = (
    # metrics.py is core because every room counts into it (the workflow too, which may not import the
    # composition root); like logs.py it holds no Slack, SQL or HTTP name, only prometheus_client's objects.
    # pending_acks.py is core for the same reason: the transports count into it, the workflow's runners wait on it.
    Layer("core: vocabulary, rules, secrets, sealing, logs, metrics, pending acks",
          ("bot/__init__.py", "bot/domain.py", "bot/forms.py", "bot/secret.py", "bot/policy.py",
           "bot/passwords.py", "bot/sealing.py", "bot/logs.py", "bot/metrics.py", "bot/pending_acks.py"),
          SLACK + SQL + HTTP_XML + COMPOSITION + DEVKIT
          + ("handlers", "storage", "bot.workflow", "bot.providers", "bot.config")),
    Layer("providers: one plugin folder per provider, HTTP and XML",
          ("bot/providers/",),
          SLACK + SQL + COMPOSITION + DEVKIT + ("handlers", "storage", "bot.workflow", "bot.config")),
    Layer("storage: models, queries, migrations",
          ("storage/",),
          SLACK + HTTP_XML + COMPOSITION + DEVKIT + ("handlers", "bot.workflow", "bot.providers", "bot.config")),
    Layer("config: settings from the environment, through the provider registry",
          ("bot/config.py",),
          SLACK + SQL + HTTP_XML + COMPOSITION + DEVKIT + ("handlers", "storage", "bot.workflow")),
    Layer("workflow: use cases, owns transactions",
          ("bot/workflow/",),
          SLACK + SQL + HTTP_XML + COMPOSITION + DEVKIT + ("handlers",)),
    Layer("handlers: Slack transport only",
          ("handlers/",),
          SQL + HTTP_XML + COMPOSITION + DEVKIT + ("storage", "bot.providers")),
    Layer("composition root: builds and serves the app, the CLI",
          ("bot/app.py", "bot/server.py", "bot/cli.py", "bot/slack_http.py"),
          SQL + DEVKIT),
)


def imports_of(path: Path) -> set[str]:
    """Every module imported, at the top or lazily, plus literal names given to import_module/__import__."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names.add(node.args[0].value)
    return names


def hits(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(n for n in imports_of(path) if any(n == f or n.startswith(f + ".") for f in forbidden))


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def runtime_modules() -> list[Path]:
    return sorted(p for folder in RUNTIME for p in (ROOT / folder).rglob("*.py"))


def layers_of(path: Path) -> list[Layer]:
    return [layer for layer in LAYERS if layer.holds(rel(path))]


@pytest.mark.parametrize("path", runtime_modules(), ids=rel)
def test_every_runtime_module_belongs_to_exactly_one_layer(path):
    assert len(layers_of(path)) == 1, [layer.name for layer in layers_of(path)]


@pytest.mark.parametrize("path", runtime_modules(), ids=rel)
def test_each_module_imports_only_what_its_layer_allows(path):
    (layer,) = layers_of(path)
    assert hits(path, layer.forbidden) == [], layer.name


@pytest.mark.parametrize("path", sorted((ROOT / "devkit").rglob("*.py")), ids=rel)
def test_the_dev_kit_is_no_layer_of_the_runtime(path):
    assert layers_of(path) == []


def test_the_rules_can_fail(tmp_path):
    assert hits(ROOT / "bot/app.py", SLACK)  # the composition root does import Slack…
    assert hits(ROOT / "devkit/demo.py", ("bot",))  # …and the dev kit the runtime
    lazy = tmp_path / "lazy.py"
    lazy.write_text("import importlib\n\n\ndef later():\n    from devkit.demo import run_demo\n"
                    "    return importlib.import_module('devkit.sandbox')\n")
    assert hits(lazy, DEVKIT) == ["devkit.demo", "devkit.sandbox"]
    assert not any(layer.holds("bot/new_module.py") for layer in LAYERS)  # an unplaced module has no layer


@pytest.mark.parametrize("path", runtime_modules() + sorted((ROOT / "devkit").rglob("*.py")), ids=rel)
def test_every_module_says_in_its_first_line_the_one_concern_it_holds(path):
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert docstring and docstring.splitlines()[0].strip(), "a module docstring whose first line says what it holds"

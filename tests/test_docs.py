"""The README is the front door (issue 21 item 3): small, naming the two commands a newcomer runs, and every
relative link in the documentation leads somewhere.

A link is `[text](target)`, `![alt](target)` or a reference definition `[name]: target`, outside fenced code
blocks and code spans. A relative target must name a file or directory of this repository; a `#anchor` (alone,
or after a `.md` file) must name a heading of that file by GitHub's rules: the heading's text, lower-cased,
punctuation dropped, each space a `-`, and `-1`, `-2`, … after a repeated one.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_LIMIT = 10 * 1024  # bytes


def documents(root: Path = ROOT) -> list[Path]:
    """The documentation whose links are checked: the README, the architecture, deploy/ and docs/."""
    found = [root / "README.md", root / "ARCHITECTURE.md", root / "deploy" / "README.md",
             *sorted((root / "docs").glob("*.md"))]
    return [path for path in found if path.is_file()]


# --- reading Markdown ------------------------------------------------------------------------------------------

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"", re.IGNORECASE)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    lines, fence = [], None
    for number, line in enumerate(text.splitlines(), 1):
        opened = FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(1)[0] * 3
        elif fence is not None and line.lstrip().startswith(fence):
            fence = None
        elif fence is None:
            lines.append((number, line))
    return lines


def links(text: str) -> list[tuple[int, str]]:
    """(line number, target) of every link, code spans left out."""
    found = []
    for number, line in prose_lines(text):
        line = CODE_SPAN.sub("", line)
        targets = [m.group(1) for m in INLINE_LINK.finditer(line)]
        if reference := REFERENCE.match(line):
            targets.append(reference.group(1))
        found += [(number, target.strip("<>")) for target in targets]
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text: links reduced to their text, code and emphasis marks dropped."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"<[^>]+>", "", text)
    return "".join(c for c in text.lower() if c.isalnum() or c in "-_ ").replace(" ", "-")


def anchors(text: str) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(text):
        found.update(HTML_ANCHOR.findall(line))
        if heading := HEADING.match(line):
            base = slug(heading.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(paths: list[Path], root: Path = ROOT) -> list[str]:
    """One line per relative link that leads nowhere: `file:line: target (why)`."""
    broken = []
    for path in paths:
        for number, target in links(path.read_text(encoding="utf-8")):
            if SCHEME.match(target) or target.startswith("//"):
                continue  # absolute: https:, mailto:, …
            where = f"{path.relative_to(root)}:{number}: {target}"
            name, _, anchor = target.partition("#")
            destination = (path.parent / unquote(name)).resolve() if name else path
            if not destination.is_relative_to(root.resolve()):
                broken.append(f"{where} (outside the repository)")
            elif not destination.exists():
                broken.append(f"{where} (no such file)")
            elif anchor:
                if destination.suffix != ".md" or not destination.is_file():
                    broken.append(f"{where} (an anchor into something that is not a Markdown file)")
                elif unquote(anchor) not in anchors(destination.read_text(encoding="utf-8")):
                    broken.append(f"{where} (no such heading in {destination.relative_to(root.resolve())})")
    return broken


# --- the repository's documentation --------------------------------------------------------------------------


def test_the_readme_is_at_most_10_kib():
    size = README.stat().st_size
    assert size <= README_LIMIT, f"README.md is {size} bytes; move detail into docs/ (at most {README_LIMIT})"


def test_every_relative_link_in_the_documentation_resolves():
    checked = documents()
    assert {README, ROOT / "deploy" / "README.md", ROOT / "docs" / "README.md"} <= set(checked)
    assert sum(len(links(path.read_text(encoding="utf-8"))) for path in checked) > 50  # the reader finds links
    assert broken_links(checked) == []


def test_the_readme_names_the_demo_and_the_test_command_and_ci_runs_that_test_command():
    readme = README.read_text(encoding="utf-8")
    assert "./dev demo" in readme and "./dev test" in readme
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert any(re.match(r"\./dev test(\s|$)", line) for line in ci), "`.ci/run` runs the README's `./dev test`"


def test_every_file_in_docs_is_in_an_index():
    indexed = {(path.parent / unquote(target.partition("#")[0])).resolve()
               for path in (README, ROOT / "docs" / "README.md")
               for _, target in links(path.read_text(encoding="utf-8")) if not SCHEME.match(target)}
    missing = [path.name for path in sorted((ROOT / "docs").glob("*.md"))
               if path.name != "README.md" and path.resolve() not in indexed]
    assert missing == [], "link these from docs/README.md (and the README's index, if a newcomer needs them)"


def test_the_configuration_doc_names_every_variable_the_code_reads():
    from bot.providers.registry import plugins

    config_source = (ROOT / "bot" / "config.py").read_text()
    read = set(re.findall(r"\"([A-Z][A-Z0-9]*_[A-Z0-9_]+)\"", config_source))
    read |= {name for plugin in plugins() for name in plugin.env_variables}
    documented = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert len(read) >= 20
    assert sorted(name for name in read if not re.search(rf"\b{name}\b", documented)) == []


# --- the checker itself: it must fail when a link breaks -----------------------------------------------------


def test_github_anchors():
    assert slug("cPanel & WHM") == "cpanel--whm"
    assert slug("Installing: the pip extras and the image") == "installing-the-pip-extras-and-the-image"
    assert slug("4.2 Outcome vocabulary (used by `tests/fixtures/providers/index.json`)") == \
        "42-outcome-vocabulary-used-by-testsfixturesprovidersindexjson"
    assert slug("`./dev`") == "dev"
    assert slug("The requester's DM") == "the-requesters-dm"
    assert slug("RESETBOT_HOME and [the image](x.md)") == "resetbot_home-and-the-image"
    assert anchors("# Runbook\n## Several replicas\n```\n# not a heading\n```\n## Several replicas\n") == \
        {"runbook", "several-replicas", "several-replicas-1"}


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "deploy").mkdir()
    (tmp_path / "docs" / "guide.md").write_text("# Guide\n\n## Rotating the seal key\n\n[up](../README.md)\n")
    (tmp_path / "deploy" / "README.md").write_text("[ops](../docs/guide.md#rotating-the-seal-key)\n")
    return tmp_path


def test_the_checker_passes_links_that_resolve(tree):
    (tree / "README.md").write_text(
        "# Front\n\n## Try it\n\n[guide](docs/guide.md) [key](docs/guide.md#rotating-the-seal-key) [here](#try-it)\n"
        "[dir](deploy/) [site](https://example.com/x.md) <https://api.slack.com/apps> [mail](mailto:a@b.c)\n"
        "`[not a link](nowhere.md)`\n\n```\n[not a link either](nowhere.md)\n```\n\n[ref]: docs/guide.md\n")
    assert broken_links(documents(tree), tree) == []


@pytest.mark.parametrize("link, why", [
    ("[gone](docs/missing.md)", "no such file"),
    ("[moved](docs/guide.md#runbook)", "no such heading in docs/guide.md"),
    ("[self](#nowhere)", "no such heading in README.md"),
    ("[up](../elsewhere.md)", "outside the repository"),
    ("[ref]: docs/missing.md", "no such file"),
    ("[anchor](deploy/#x)", "not a Markdown file"),
])
def test_the_checker_fails_on_a_broken_link(tree, link, why):
    (tree / "README.md").write_text(f"# Front\n\n{link}\n")
    (broken,) = broken_links(documents(tree), tree)
    assert broken.startswith("README.md:3: ") and why in broken, broken

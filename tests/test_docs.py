"""The prose documentation keeps up with the code: the architecture page names every module, plugin and command,
and the plugin guide quotes the example plugin and the component protocols as they are."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from rankkit import components

REPO = Path(__file__).resolve().parent.parent
ARCHITECTURE = (REPO / "docs" / "architecture.md").read_text()
GUIDE = (REPO / "docs" / "plugin-guide.md").read_text()
EXAMPLE = REPO / "tests" / "example_plugin"


def _code_blocks(text: str) -> dict[str, str]:
    """Fenced blocks whose first line is a ``# <file>`` comment, by that file."""
    blocks = {}
    for body in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        first, _, rest = body.partition("\n")
        if first.startswith("# "):
            blocks[first[2:].split(" (")[0].strip()] = rest
    return blocks


def test_the_architecture_page_names_every_core_module_and_first_party_plugin():
    modules = sorted(p.relative_to(REPO / "rankkit").as_posix() for p in (REPO / "rankkit").rglob("*.py")
                     if p.name != "__init__.py" or p.parent.name == "rankkit")
    missing = [m for m in modules if not re.search(rf"(?<![\w/]){re.escape(Path(m).name)}", ARCHITECTURE)]
    assert not missing, f"docs/architecture.md does not name these modules: {missing}"
    plugins = sorted(p.name for p in (REPO / "plugins").iterdir() if (p / "pyproject.toml").is_file())
    assert [p for p in plugins if f"[`{p}`](plugins/{p}.md)" not in ARCHITECTURE] == []


def test_the_architecture_page_names_every_command_and_promises_nothing_that_exists(rankkit_registry):
    from rankkit.cli import build_cli

    commands = sorted(build_cli(rankkit_registry).commands)
    assert {"run", "train", "eval"} <= set(commands)
    assert [c for c in commands if f"`{c}`" not in ARCHITECTURE and f"`rankkit {c}" not in ARCHITECTURE] == []
    for stale in ("not implemented", "still to come"):
        assert stale not in ARCHITECTURE.lower()


@pytest.mark.parametrize("file", ["pyproject.toml", "rankkit_example/overlap.py", "rankkit_example/settings.py",
                                  "rankkit_example/plugin.py"])
def test_the_plugin_guide_quotes_the_example_plugin_as_it_is(file):
    quoted = _code_blocks(GUIDE)
    assert file in quoted, f"docs/plugin-guide.md quotes no {file}"
    assert quoted[file].strip() == (EXAMPLE / file).read_text().strip()


def test_the_plugin_guide_lists_the_example_plugins_files_and_its_contract_test():
    tree = re.search(r"```text\ntests/example_plugin/.*?\n(.*?)```", GUIDE, flags=re.S)
    assert tree, "the guide shows the example plugin's tree"
    listed, parents = set(), []
    for line in tree.group(1).splitlines():
        depth = (len(line) - len(line.lstrip())) // 2 - 1
        name = line.split()[0]
        parents[depth:] = [name.rstrip("/")]
        if not name.endswith("/"):
            listed.add("/".join(parents))
    files = {p.relative_to(EXAMPLE).as_posix() for p in EXAMPLE.rglob("*")
             if p.is_file() and ".egg-info" not in p.as_posix() and "__pycache__" not in p.parts}
    assert listed == files
    test = _code_blocks(GUIDE)["tests/test_overlap.py"]
    suite = test[test.index("class TestTermOverlapScorer"):].strip()
    assert suite in (REPO / "tests" / "test_contracts.py").read_text()


PROTOCOLS = {"retriever": components.Retriever.retrieve, "reranker": components.Reranker.rerank,
             "scorer": components.Scorer.score, "trainer": components.Trainer.train,
             "index builder": components.IndexBuilder.build, "dataset provider": components.DatasetProvider.resolve}


@pytest.mark.parametrize("kind", sorted(PROTOCOLS))
def test_the_plugin_guide_gives_each_kinds_method_with_the_protocols_parameters(kind):
    match = re.search(rf"- \*\*{kind}\*\*: (?:`version` and )?`(\w+)\(([^)]*)\)", GUIDE)
    assert match, f"the guide does not say what a {kind} provides"
    method = PROTOCOLS[kind]
    assert match.group(1) == method.__name__
    written = [p.split("=")[0].strip() for p in match.group(2).split(",") if p.strip()]
    assert written == [p for p in inspect.signature(method).parameters if p != "self"]


def _plugin_pages() -> dict[str, Path]:
    return {p.stem: p for p in (REPO / "docs" / "plugins").glob("*.md")}


def test_every_generated_parameter_table_matches_the_declarations(rankkit_registry):
    from rankkit.paramdocs import refresh

    stale = [str(p.relative_to(REPO)) for p in (REPO / "docs").rglob("*.md")
             if refresh(p.read_text(), rankkit_registry) != p.read_text()]
    assert not stale, f"parameter tables out of date: run `rankkit plugins --docs {' '.join(stale)}`"


def test_every_first_party_component_with_parameters_has_a_generated_table(rankkit_registry):
    from rankkit.paramdocs import marked

    pages = {name: set(marked(page.read_text())) for name, page in _plugin_pages().items()}
    missing = [f"{c.kind} {c.name} (docs/plugins/{c.origin.name}.md)" for c in rankkit_registry.all_components()
               if c.origin.name in pages and c.spec.params and (c.kind, c.name) not in pages[c.origin.name]]
    assert not missing, f"mark a generated parameter table (<!-- rankkit:params KIND NAME -->) for: {missing}"


def test_a_parameter_table_shows_defaults_bounds_choices_and_keying():
    from rankkit.paramdocs import markdown_table
    from rankkit.params import Param

    table = markdown_table((Param("k", int, 10, "depth", minimum=1), Param("mode", str, "a", "how", ("a", "b|c")),
                            Param("every", int, 5, "save often", keyed=False), Param("model", str, help="a | b")))
    assert "| `k` | `10` | >= 1 | depth |" in table
    assert '| `mode` | `"a"` | `"a"` / `"b\\|c"` | how |' in table
    assert "save often (not part of keys)" in table and "| `model` | (required) | str | a \\| b |" in table

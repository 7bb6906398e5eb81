"""Folders built atomically: filled in a staging sibling, stamped, then renamed into place.

Index builds and training runs share this: a crash or Ctrl-C leaves only a
``.building-<name>-<pid>`` leftover, never a folder that looks complete, and
a folder counts as complete only when it holds its stamp file.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rankkit.errors import IndexStateError
from rankkit.files import atomic_write

STAGING_PREFIX = ".building-"


def read_stamp(folder: Path, stamp: str) -> dict[str, Any] | None:
    """The stamp of a finished folder, or ``None`` when it is absent or unreadable."""
    try:
        return json.loads((folder / stamp).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None


def write_stamp(folder: Path, stamp: str, content: dict[str, Any]) -> None:
    """Write (or replace) the stamp file ``stamp`` of ``folder`` atomically."""
    with atomic_write(folder / stamp) as handle:
        json.dump(content, handle, indent=2, sort_keys=True, default=str)


def build_folder(target: Path, stamp: str, fill: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """Build ``target`` atomically.

    Args:
        target: The finished folder (replaced when it exists).
        stamp: File name of the stamp written into the folder last.
        fill: Fills the empty staging folder it is given and returns the stamp's content.

    Returns:
        The stamp written.

    Raises:
        IndexStateError: When another live process is building the same folder.
    """
    root = target.parent
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_builds(root, target.name)
    staging = root / f"{STAGING_PREFIX}{target.name}-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        content = fill(staging)
        write_stamp(staging, stamp, content)
        _swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return content


def _swap_into_place(staging: Path, target: Path) -> None:
    if target.exists():
        trash = target.with_name(f"{STAGING_PREFIX}{target.name}-old-{os.getpid()}")
        os.replace(target, trash)
        os.replace(staging, target)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(staging, target)


def remove_stale_builds(root: Path, name: str) -> None:
    """Delete leftovers of interrupted builds of ``name`` (refusing while their process still runs)."""
    for leftover in root.glob(f"{STAGING_PREFIX}{name}-*"):
        pid = leftover.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and pid_alive(int(pid)):
            raise IndexStateError(f"{root / name} is being built by process {pid} ({leftover}); wait for it to finish")
        shutil.rmtree(leftover, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (lock files and staging folders record their owner's pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
    return True


def remove_if_empty(folder: Path) -> bool:
    """Remove ``folder`` when it is an empty folder (a checkpoint folder once its work is done or was interrupted
    before anything was saved into it).

    Returns:
        Whether it was removed; a missing folder, a file or a folder with content stays as it is.
    """
    try:
        Path(folder).rmdir()
    except OSError:
        return False
    return True

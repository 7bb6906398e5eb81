"""Atomic file output and content checksums (of files, and of folders such as model directories)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Write a file atomically: into a temporary sibling, then rename over the target.

    A crash or an exception inside the block leaves the old file (or no file) in
    place, never a half-written one.

    Args:
        path: The file to write.
        mode: ``"w"`` for text or ``"wb"`` for bytes.
        encoding: Text encoding; ignored in binary mode.

    Yields:
        The open temporary file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        kwargs = {} if "b" in mode else {"encoding": encoding, "newline": "\n"}
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _file_mode(target))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _file_mode(target: Path) -> int:
    """The mode an ordinary ``open(target, "w")`` would give: the old file's, or 0666 less the umask."""
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def file_checksum(*paths: str | Path, chunk_size: int = 1 << 20) -> str:
    """SHA-256 over the bytes of one or more files, in the given order.

    Args:
        *paths: Files to hash.
        chunk_size: Read size in bytes.

    Returns:
        The hex digest.
    """
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(Path(path).name).encode())
        with open(path, "rb") as handle:
            while chunk := handle.read(chunk_size):
                digest.update(chunk)
    return digest.hexdigest()


def content_digest(root: str | Path, files: Iterable[str | Path]) -> str:
    """A 16-hex digest of files under ``root``: their paths relative to ``root`` and their bytes.

    Model fingerprints use it: the same files under another folder give the
    same digest, changed bytes a new one. Results are cached while the files'
    sizes and modification times stay the same, so fingerprinting a large
    model again costs a few ``stat`` calls.

    Args:
        root: The folder the files are named relative to (absolute or relative to the working directory).
        files: Files under ``root``, hashed in the given order: relative to ``root``, or paths that already
            lead into it (absolute, or relative to the working directory, as ``Path(root).rglob`` gives them).
    """
    root = Path(root).absolute()
    signature = []
    for file in files:
        path = _under(root, Path(file))
        stat = path.stat()
        signature.append((path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns))
    return _digest(str(root), tuple(signature))


def _under(root: Path, file: Path) -> Path:
    """The absolute path of ``file``, a file under the absolute folder ``root`` (see :func:`content_digest`)."""
    if file.is_absolute():
        return file
    from_here = file.absolute()
    return from_here if from_here.is_relative_to(root) and from_here.exists() else root / file


@lru_cache(maxsize=128)
def _digest(root: str, signature: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for relative, _, _ in signature:
        digest.update(relative.encode() + b"\0")
        with open(Path(root) / relative, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:16]

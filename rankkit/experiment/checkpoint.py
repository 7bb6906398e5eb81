"""Per-batch checkpoints, so an interrupted experiment resumes where it stopped.

A checkpoint is a JSONL file: a header line with the key of everything that
produced it (pipeline fingerprint, dataset checksum, the queries and the batch
size), then one line per finished batch of queries, flushed and fsynced before
the next batch starts. A line cut short by a kill is ignored on resume; a
checkpoint whose key no longer matches is discarded.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import numpy as np

from rankkit.types import Ranking

FORMAT = 1


class Checkpoint:
    """The checkpoint file of one pipeline run.

    Args:
        path: The JSONL file.
        key: Identity of the computation; a file with another key is discarded.
    """

    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = key
        self._handle: IO[str] | None = None

    def load(self) -> dict[int, list[Ranking]]:
        """Finished batches by index (empty when there is no usable checkpoint)."""
        if not self.path.is_file():
            return {}
        done: dict[int, list[Ranking]] = {}
        with open(self.path, encoding="utf-8") as handle:
            lines = handle.read().split("\n")
        try:
            header = json.loads(lines[0])
        except (json.JSONDecodeError, IndexError):
            return {}
        if header.get("key") != self.key or header.get("format") != FORMAT:
            return {}
        for line in lines[1:]:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break  # the line a kill cut short, and nothing after it
            done[record["batch"]] = [
                Ranking(q, np.array(d, dtype=str), np.array(s, dtype=np.float32)) for q, d, s in record["rankings"]
            ]
        return done

    def _open(self) -> IO[str]:
        if self._handle is None:
            existing = self.load() if self.path.is_file() else {}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if existing:
                self._rewrite(existing)
                self._handle = open(self.path, "a", encoding="utf-8")
            else:
                self._handle = open(self.path, "w", encoding="utf-8")
                self._write_line({"key": self.key, "format": FORMAT})
        return self._handle

    def _rewrite(self, done: dict[int, list[Ranking]]) -> None:
        """Drop a torn last line by rewriting the intact batches."""
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(json.dumps({"key": self.key, "format": FORMAT}) + "\n")
            for index in sorted(done):
                handle.write(json.dumps(_record(index, done[index])) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def _write_line(self, payload: dict) -> None:
        assert self._handle is not None
        self._handle.write(json.dumps(payload) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def append(self, index: int, rankings: Sequence[Ranking]) -> None:
        """Record one finished batch durably."""
        self._open()
        self._write_line(_record(index, rankings))

    def close(self) -> None:
        """Close the file (the checkpoint stays)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def remove(self) -> None:
        """Delete the checkpoint once the run file is written."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _record(index: int, rankings: Sequence[Ranking]) -> dict:
    return {
        "batch": index,
        "rankings": [[r.query_id, r.doc_ids.tolist(), r.scores.tolist()] for r in rankings],
    }

"""Fixtures for rankkit-elasticsearch: the real server from $RANKKIT_ES_URL, SciFact indexed once, a proxy in a thread."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rankkit.indexes import INDEX_DIR_ENV, BuiltIndex, IndexManifest, ensure_index
from rankkit.registry import Registry

REPO = Path(__file__).resolve().parents[3]
MANIFESTS = REPO / "indexes"
URL_ENV = "RANKKIT_ES_URL"


@pytest.fixture(scope="session")
def es_url() -> str:
    """The real Elasticsearch that scripts/elasticsearch.sh (make test, .ci/run) starts; skips when unset."""
    url = os.environ.get(URL_ENV)
    if not url:
        pytest.skip(f"{URL_ENV} is unset: no Elasticsearch; `bash scripts/elasticsearch.sh run -- <cmd>` starts one")
    return url.rstrip("/")


@pytest.fixture(scope="session")
def es(es_url: str) -> Iterator[Any]:
    """A client for the real server."""
    from elasticsearch import Elasticsearch

    client = Elasticsearch(es_url, request_timeout=60)
    yield client
    client.close()


@pytest.fixture
def registry() -> Registry:
    """A registry with every installed plugin (fresh per test)."""
    return Registry.load()


@pytest.fixture(scope="session")
def scifact_es(es_url: str, data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltIndex]:
    """indexes/scifact-es.toml built once per session into a temporary index root."""
    root = tmp_path_factory.mktemp("es-indexes")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RANKKIT_DATA", str(data_root))
        patch.setenv(INDEX_DIR_ENV, str(root))
        yield ensure_index(IndexManifest.load(MANIFESTS / "scifact-es.toml"), Registry.load())


def free_port() -> int:
    """A TCP port nobody listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerThread:
    """uvicorn serving an app on 127.0.0.1 in a thread; stops on :meth:`stop`."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@pytest.fixture
def closed_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def serve():  # noqa: ANN201
    """Start apps with ``serve(app) -> ServerThread``; all are stopped after the test."""
    started: list[ServerThread] = []

    def start(app: Any) -> ServerThread:
        started.append(ServerThread(app))
        return started[-1]

    yield start
    for server in started:
        server.stop()

"""Fixtures for rankkit-elasticsearch: the real server from $RANKKIT_ES_URL, SciFact indexed once, a proxy in a thread."""

from __future__ import annotations

import os
import socket
import subprocess
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
ES_SCRIPT = REPO / "scripts" / "elasticsearch.sh"
#: Longer than the script's own 180 s wait for a healthy server.
ES_SCRIPT_TIMEOUT = 300


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


class ScriptServer:
    """A server that ``scripts/elasticsearch.sh`` manages through the state file ``state`` (for fault tests)."""

    def __init__(self, state: Path) -> None:
        self.state = state

    def call(self, verb: str) -> str:
        """Run ``elasticsearch.sh VERB`` (start, restart, stop, health) for this state; returns stdout.

        Raises:
            AssertionError: With the script's stderr when it fails.
        """
        env = {**os.environ, "RANKKIT_ES_STATE": str(self.state), "RANKKIT_ES_HEAP": "512m"}
        env.pop(URL_ENV, None)
        done = subprocess.run(["bash", str(ES_SCRIPT), verb], env=env, capture_output=True, text=True,
                              timeout=ES_SCRIPT_TIMEOUT, check=False)
        assert done.returncode == 0, f"elasticsearch.sh {verb} failed ({done.returncode}):\n{done.stderr}"
        return done.stdout

    def read_state(self) -> dict[str, str]:
        """``ES_PID``, ``ES_URL`` and ``ES_DIR`` from the state file."""
        return dict(line.split("=", 1) for line in self.state.read_text().splitlines() if "=" in line)

    def client(self) -> Any:
        """A client for the server the state file names."""
        from elasticsearch import Elasticsearch

        return Elasticsearch(self.read_state()["ES_URL"], request_timeout=30)


@pytest.fixture
def second(es_url: str, tmp_path: Path) -> Iterator[ScriptServer]:
    """A second server for the test to start (``second.call("start")``), with a state file of its own.

    Never the session's server; stopped (and its data deleted) after the test, pass or fail. Skips when the
    script cannot fetch Elasticsearch here (RANKKIT_ES_URL naming a server of the user's own), except in CI.
    """
    fetch = subprocess.run(["bash", str(ES_SCRIPT), "fetch"], capture_output=True, text=True,
                           timeout=ES_SCRIPT_TIMEOUT, check=False)
    if fetch.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"scripts/elasticsearch.sh cannot fetch Elasticsearch although {URL_ENV} is set:\n{fetch.stderr}")
        pytest.skip(f"scripts/elasticsearch.sh cannot fetch Elasticsearch here ({fetch.stderr.strip()[-200:]})")
    server = ScriptServer(tmp_path / "second-es" / "state")
    try:
        yield server
    finally:
        server.call("stop")


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


def serve_cli(*args: str, env: dict[str, str]) -> tuple[Any, int]:
    """``rankkit serve ARGS`` in a subprocess on a free port, once its health answers 200 (or it has waited 20 s).

    Returns:
        The process (stdout and stderr merged, as text) and its port.
    """
    import subprocess
    import sys

    import httpx

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "rankkit.cli", "serve", "--port", str(port), *args], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_rankkit/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    return process, port


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

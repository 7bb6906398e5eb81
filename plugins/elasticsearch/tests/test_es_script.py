"""scripts/elasticsearch.sh: a second server with its own state leaves the first alone and survives restarts.

Starting a server takes 20-40 s, so this starts one, restarts it twice (once after ``kill -9``) and stops it.
``second`` is the conftest's :class:`ScriptServer` fixture.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
INDEX = "rankkit-test-script-restart"


def _node_ids(client: Any) -> set[str]:
    return set(client.nodes.info()["nodes"])


def test_second_server_is_independent_and_keeps_its_indexes_across_restarts(es: Any, second: Any) -> None:
    first_nodes = _node_ids(es)
    line = second.call("start").strip()
    started = second.read_state()
    assert line == f"export RANKKIT_ES_URL={started['ES_URL']}"
    with second.client() as client:
        assert _node_ids(client).isdisjoint(first_nodes)
        client.index(index=INDEX, id="d1", document={"text": "survives restarts"}, refresh=True)
    assert _node_ids(es) == first_nodes and es.cluster.health()["status"] in ("green", "yellow")

    assert second.call("restart").strip() == line
    restarted = second.read_state()
    assert restarted["ES_DIR"] == started["ES_DIR"] and restarted["ES_PID"] != started["ES_PID"]
    with second.client() as client:
        assert client.get(index=INDEX, id="d1")["_source"] == {"text": "survives restarts"}

    os.kill(int(restarted["ES_PID"]), signal.SIGKILL)
    assert second.call("restart").strip() == line
    with second.client() as client:
        assert client.get(index=INDEX, id="d1")["_source"] == {"text": "survives restarts"}
    assert _node_ids(es) == first_nodes

    second.call("stop")
    assert not second.state.exists() and not Path(started["ES_DIR"]).exists()

"""The ``rankkit serve`` command (added by the plugin through ``rankkit_cli``)."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from rankkit_elasticsearch._client import es_url

TOKEN_ENV = "RANKKIT_SERVE_TOKEN"


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind; anything but loopback exposes the service.")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--upstream", default="", help="Elasticsearch URL [default: $RANKKIT_ES_URL or http://127.0.0.1:9200]")
@click.option("--token", default=None, help=f"Bearer token clients must send [default: ${TOKEN_ENV}; none when unset]")
@click.option("--max-body-bytes", default=1 << 20, show_default=True, type=int)
@click.option("--max-window", default=1000, show_default=True, type=int, help="Largest rankkit window_size (and /rerank input).")
@click.option("--timeout", default=30.0, show_default=True, type=float, help="Seconds per upstream call.")
@click.option("--scorer", "scorers", multiple=True, help="Scorer requests may use (repeat); default: any installed. "
              "The first is /rerank's default; give parameters as NAME:JSON.")
@click.pass_obj
def serve_command(registry: Any, host: str, port: int, upstream: str, token: str | None, max_body_bytes: int,
                  max_window: int, timeout: float, scorers: tuple[str, ...]) -> None:
    """Serve the Elasticsearch rescoring proxy (POST /{index}/_search), /rerank and /_rankkit/health."""
    import uvicorn

    from rankkit_elasticsearch.scorers import ScorerPool
    from rankkit_elasticsearch.server import ServeSettings, create_app

    for spec in scorers:
        _, _, params = spec.partition(":")
        if params:
            try:
                json.loads(params)
            except json.JSONDecodeError as error:
                raise click.BadParameter(f"{spec!r}: parameters after ':' must be JSON ({error})", param_hint="--scorer") from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: binding {host}; the service is reachable from other machines", err=True)
    settings = ServeSettings(
        upstream=es_url(upstream), token=token if token is not None else os.environ.get(TOKEN_ENV, ""),
        max_body_bytes=max_body_bytes, max_window=max_window, timeout=timeout, default_scorer=scorers[0] if scorers else "",
    )
    allowed = tuple(s.partition(":")[0] for s in scorers) or None
    app = create_app(settings, ScorerPool(registry, allowed=allowed))
    click.echo(f"rankkit serve: http://{host}:{port} -> {settings.upstream}", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")

"""The ``rankkit serve`` command (added by the plugin through ``rankkit_cli``)."""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
from dataclasses import replace
from typing import Any

import click

TOKEN_ENV = "RANKKIT_SERVE_TOKEN"
_LIMIT_OPTIONS = ("max_body_bytes", "max_window", "max_rescorers", "max_concurrent_scoring", "timeout")


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the service on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@click.command("serve")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="TOML file with scorer and reranker [profiles.NAME], [limits] and [upstream] credentials (see the docs).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to bind. Anything but loopback needs a token (the service refuses to start without one).")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--upstream", default="", help="Elasticsearch URL [default: [upstream].url, $RANKKIT_ES_URL or http://127.0.0.1:9200]. "
              "Credentials: [upstream] in --config or $RANKKIT_ES_API_KEY, $RANKKIT_ES_USERNAME/_PASSWORD, $RANKKIT_ES_CA_CERTS, "
              "$RANKKIT_ES_SSL_FINGERPRINT.")
@click.option("--token", default=None, help=f"Bearer token clients must send [default: ${TOKEN_ENV}].")
@click.option("--scorer", "scorers", multiple=True, metavar="NAME[:JSON]",
              help="Declare a profile NAME served by scorer NAME with fixed parameters (repeat; the first is /rerank's "
                   "default unless the config names one). Profiles in --config offer more options.")
@click.option("--max-body-bytes", type=int, default=None, help="Largest request body (413 above) [default: 1 MiB].")
@click.option("--max-window", type=int, default=None, help="Largest rescore window and /rerank input (400 above) [default: 1000].")
@click.option("--max-rescorers", type=int, default=None, help="rankkit rescore entries per request (400 above) [default: 4].")
@click.option("--max-concurrent-scoring", type=int, default=None, help="Scoring jobs at once; more wait [default: 2].")
@click.option("--timeout", type=float, default=None, help="Seconds per request, upstream call and scoring together (504 after) [default: 30].")
@click.option("--allow-writes", is_flag=True, default=False,
              help="Forward requests that change data or settings (DELETE, PUT, _bulk, index admin); refused with 403 otherwise.")
@click.pass_obj
def serve_command(registry: Any, config_path: str | None, host: str, port: int, upstream: str, token: str | None,
                  scorers: tuple[str, ...], allow_writes: bool, **limit_options: Any) -> None:
    """Serve the Elasticsearch rescoring proxy (/{index}/_search), /rerank and /_rankkit/health.

    Clients pick a scorer profile the operator declared (--config or --scorer) by name, and may set only
    the rescore weights, score_mode, window and text fields. Searches and reads are forwarded; writes only
    with --allow-writes. One access log line per request goes to stderr.
    """
    import uvicorn

    from rankkit.errors import ConfigError

    from rankkit_elasticsearch.profiles import ServeConfig, load_config, profile_from_spec
    from rankkit_elasticsearch.rerankers import RerankerPool
    from rankkit_elasticsearch.scorers import ScorerPool
    from rankkit_elasticsearch.server import ServeSettings, create_app
    from rankkit_elasticsearch.upstream import Upstream

    _log_to_stderr()
    try:
        config = load_config(config_path) if config_path else ServeConfig()
        extra = [profile_from_spec(spec) for spec in scorers]
        profiles = {**config.profiles, **{p.name: p for p in extra}}
        overrides = {k: v for k, v in limit_options.items() if k in _LIMIT_OPTIONS and v is not None}
        limits = replace(config.limits, **overrides, allow_writes=allow_writes or config.limits.allow_writes)
        settings = ServeSettings(upstream=Upstream.from_config(config.upstream, upstream), token=_token(token),
                                 limits=limits, default_profile=config.default_profile or (extra[0].name if extra else ""))
        pool = ScorerPool(registry, profiles=profiles.values())
        rerankers = RerankerPool(registry, profiles=config.rerankers.values())
        app = create_app(settings, pool, rerankers)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
    if not settings.token:
        if not is_loopback(host):
            raise click.UsageError(f"binding {host} without a token would let anyone on the network search (and with "
                                   f"--allow-writes, change) Elasticsearch through this service; set ${TOKEN_ENV} or --token")
        logging.getLogger("rankkit_elasticsearch.serve").warning(
            "no token: any local process can use this service (set $%s for a bearer token)", TOKEN_ENV)
    if not profiles and not config.rerankers:
        click.echo("warning: no profiles declared (--config or --scorer): rankkit rescorers will be refused", err=True)
    for name, load in [*((n, pool.get) for n in profiles), *((n, rerankers.get) for n in config.rerankers)]:
        click.echo(f"rankkit serve: loading profile {name!r}", err=True)  # now: a broken profile stops the start
        try:
            load(name)
        except Exception as error:  # noqa: BLE001 - reported with the profile's name
            raise click.ClickException(f"{error}") from None
    click.echo(f"rankkit serve: http://{host}:{port} -> {settings.upstream.url}"  # type: ignore[union-attr]
               f" (profiles: {', '.join(sorted({*profiles, *config.rerankers})) or 'none'}; writes {'forwarded' if limits.allow_writes else 'refused'})",
               err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", limit_concurrency=limits.max_connections)


def _token(option: str | None) -> str:
    """The token: ``--token``, else ``$RANKKIT_SERVE_TOKEN``; an empty ``--token`` is a mistake, not "no token"."""
    if option is not None:
        if not option.strip():
            raise click.UsageError(f"--token is empty; omit it to use ${TOKEN_ENV}, or unset that for no token (loopback only)")
        return option
    return os.environ.get(TOKEN_ENV, "")


def _log_to_stderr() -> None:
    """Access and warning lines of the service on stderr (the CLI owns logging configuration, the library does not)."""
    logger = logging.getLogger("rankkit_elasticsearch")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)

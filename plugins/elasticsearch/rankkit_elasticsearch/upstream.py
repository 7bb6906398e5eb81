"""How rankkit reaches a secured Elasticsearch: API key or basic auth, CA certificate or fingerprint.

The options are the Elasticsearch clients' own, read from a configuration table
(``[upstream]`` of ``rankkit serve --config``) and the environment, where the
table leaves them out:

=====================  ==============================  ===========================================
table key              environment                     meaning
=====================  ==============================  ===========================================
``url``                ``RANKKIT_ES_URL``              the server
``api_key``            ``RANKKIT_ES_API_KEY``          an encoded API key (``Authorization: ApiKey``)
``username``           ``RANKKIT_ES_USERNAME``         basic auth user
``password``           ``RANKKIT_ES_PASSWORD``         basic auth password
``ca_certs``           ``RANKKIT_ES_CA_CERTS``         PEM file of the CA that signed the server's certificate
``ssl_fingerprint``    ``RANKKIT_ES_SSL_FINGERPRINT``  SHA-256 of the server's certificate (hex, ``:`` allowed)
``verify_certs``       ``RANKKIT_ES_VERIFY_CERTS``     ``false`` turns certificate checks off (not advised)
=====================  ==============================  ===========================================

Secrets never appear in ``repr``, logs or error messages.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rankkit.errors import ConfigError

from rankkit_elasticsearch._client import DEFAULT_URL

ENV = {
    "url": "RANKKIT_ES_URL", "api_key": "RANKKIT_ES_API_KEY", "username": "RANKKIT_ES_USERNAME",
    "password": "RANKKIT_ES_PASSWORD", "ca_certs": "RANKKIT_ES_CA_CERTS", "ssl_fingerprint": "RANKKIT_ES_SSL_FINGERPRINT",
    "verify_certs": "RANKKIT_ES_VERIFY_CERTS",
}
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Upstream:
    """An Elasticsearch server and the credentials rankkit uses for it.

    Attributes:
        url: The server.
        api_key: Encoded API key, or "".
        username: Basic auth user, or "".
        password: Basic auth password, or "".
        ca_certs: Path of a CA bundle (PEM), or "".
        ssl_fingerprint: SHA-256 fingerprint of the server certificate (64 hex digits), or "".
        verify_certs: Whether TLS certificates are checked.
    """

    url: str = DEFAULT_URL
    api_key: str = field(default="", repr=False)
    username: str = ""
    password: str = field(default="", repr=False)
    ca_certs: str = ""
    ssl_fingerprint: str = ""
    verify_certs: bool = True

    def __post_init__(self) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"upstream: {parts.scheme or 'no'} URL scheme; give http(s)://host:port")
        if parts.username or parts.password:
            raise ConfigError("upstream: credentials in the URL would show in errors and logs; give them as api_key or "
                              "username and password ([upstream] or $RANKKIT_ES_API_KEY, $RANKKIT_ES_USERNAME/_PASSWORD)")
        if self.api_key and (self.username or self.password):
            raise ConfigError("upstream: give an API key or a username and password, not both")
        if bool(self.username) != bool(self.password):
            raise ConfigError("upstream: basic auth needs both a username and a password")
        if self.ssl_fingerprint and not _HEX64.fullmatch(self.ssl_fingerprint):
            raise ConfigError("upstream: ssl_fingerprint must be a SHA-256 fingerprint (64 hex digits, ':' allowed)")
        if self.ca_certs and not os.path.isfile(self.ca_certs):
            raise ConfigError(f"upstream: ca_certs {self.ca_certs!r} is not a file")

    @classmethod
    def from_config(cls, table: Mapping[str, Any] | None = None, url: str = "") -> Upstream:
        """The upstream from ``url`` (wins), else ``table``, else the environment.

        Raises:
            ConfigError: For an unknown key or inconsistent credentials (never echoing a secret).
        """
        table = dict(table or {})
        unknown = sorted(set(table) - set(ENV))
        if unknown:
            raise ConfigError(f"[upstream]: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(ENV))}")
        values: dict[str, Any] = {}
        for key, env in ENV.items():
            value = table.get(key)
            if value is None:
                value = os.environ.get(env, "")
            if key == "verify_certs":
                values[key] = _flag(value, env)
            elif not isinstance(value, str):
                raise ConfigError(f"[upstream].{key} must be a string")
            else:
                values[key] = value
        values["url"] = (url or values["url"] or DEFAULT_URL).rstrip("/")
        values["ssl_fingerprint"] = values["ssl_fingerprint"].replace(":", "").lower()
        return cls(**values)

    @property
    def authorization(self) -> str | None:
        """The ``Authorization`` header rankkit sends upstream (``None`` without credentials)."""
        if self.api_key:
            return f"ApiKey {self.api_key}"
        if self.username:
            import base64

            return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return None

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``elasticsearch.Elasticsearch`` (besides the URL)."""
        kwargs: dict[str, Any] = {}
        if self.api_key:
            kwargs["api_key"] = self.api_key
        if self.username:
            kwargs["basic_auth"] = (self.username, self.password)
        if self.ca_certs:
            kwargs["ca_certs"] = self.ca_certs
        if self.ssl_fingerprint:
            kwargs["ssl_assert_fingerprint"] = self.ssl_fingerprint
        if not self.verify_certs:
            kwargs["verify_certs"] = False
        return kwargs

    def aiohttp_ssl(self) -> Any:
        """The ``ssl`` argument of aiohttp's connector: a fingerprint check, a context with the CA, or the default."""
        import aiohttp

        if self.ssl_fingerprint:
            return aiohttp.Fingerprint(bytes.fromhex(self.ssl_fingerprint))
        if not self.verify_certs:
            return False
        if self.ca_certs:
            import ssl

            return ssl.create_default_context(cafile=self.ca_certs)
        return True


def _flag(value: Any, env: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("", "1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{env} / verify_certs must be true or false, got {value!r}")

"""The connections under the Exotel client: keep-alive pools, proxies and certificates as the
environment sets them, and what a request that failed on its way says.

urllib3 directly, the library under ``requests``: a request through ``requests`` cost about half
as much CPU again as the same request through urllib3 (settings merged, the request prepared,
runtime protocol checks, cookie jars, hooks), and a worker sends one for each switch. What
``requests`` would take from the environment it still takes, once per client, with
``requests``' own helper: the proxy for the URL (``HTTPS_PROXY``, ``HTTP_PROXY``,
``ALL_PROXY``, ``NO_PROXY``) and the CA bundle (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``: a
file, or a directory of certificates); certificates are verified against ``certifi``'s bundle
by default, as ``requests`` does.
"""

from __future__ import annotations

import http.client
import os
import re
import ssl
import threading
from typing import Any
from urllib.parse import unquote, urlsplit

import certifi
import urllib3
from requests.utils import get_environ_proxies
from urllib3.exceptions import ConnectTimeoutError, LocationValueError, ProtocolError
from urllib3.util import parse_url


class Unusable(Exception):
    """The environment's proxy or CA bundle for a URL cannot be used; the message says which
    and what to check, without the proxy's URL (it may hold a password)."""


class Pools:
    """Keep-alive connections for many threads, shared by every client of a process: one pool
    per host, of ``pool_size`` connections (as many as threads that send at once; more would be
    opened, used once and thrown away), per proxy and CA bundle. Nothing is retried here: the
    caller decides."""

    def __init__(self, pool_size: int = 64) -> None:
        self.pool_size = pool_size
        self._managers: dict[tuple[str | None, str], urllib3.PoolManager] = {}
        self._lock = threading.Lock()

    def manager(self, proxy: str | None, ca_bundle: str) -> urllib3.PoolManager:
        """The pools through ``proxy`` (None: direct), verifying with ``ca_bundle`` (a file or
        a directory of certificates). Raises what urllib3 raises for a proxy it cannot use."""
        key = (proxy, ca_bundle)
        with self._lock:
            found = self._managers.get(key)
            if found is None:
                options: dict[str, Any] = {
                    "num_pools": 64,
                    "maxsize": self.pool_size,
                    "retries": False,
                    "ca_cert_dir" if os.path.isdir(ca_bundle) else "ca_certs": ca_bundle,
                }
                if proxy is None:
                    found = urllib3.PoolManager(**options)
                else:
                    login = urlsplit(proxy)
                    if login.username is not None:
                        user = f"{unquote(login.username)}:{unquote(login.password or '')}"
                        options["proxy_headers"] = urllib3.make_headers(proxy_basic_auth=user)
                    found = urllib3.ProxyManager(proxy, **options)
                self._managers[key] = found
            return found

    def for_url(self, url: str) -> urllib3.PoolManager:
        """The pools for requests to ``url``, as the environment says now (read once per
        client, not per request); :class:`Unusable` when its proxy or CA bundle is not."""
        options = environment_options(url)
        bundle = options.get("verify") or certifi.where()
        if urlsplit(url).scheme == "https":
            _check_bundle(bundle)
        proxy = proxy_for(url, options["proxies"])
        unusable = (
            f"the proxy for {urlsplit(url).scheme or 'this'} URLs cannot be used "
            "({}; check HTTPS_PROXY, HTTP_PROXY, ALL_PROXY)"
        )
        try:
            if proxy is not None and not parse_url(proxy).host:
                raise Unusable(unusable.format("no host"))
            return self.manager(proxy, bundle)
        except (urllib3.exceptions.HTTPError, ValueError) as exc:
            raise Unusable(unusable.format(type(exc).__name__)) from None

    def close(self) -> None:
        with self._lock:
            managers, self._managers = list(self._managers.values()), {}
        for manager in managers:
            manager.clear()


def _check_bundle(bundle: str) -> None:
    """:class:`Unusable` unless ``bundle`` (a file, or a directory of certificates) holds
    certificates to verify with: a bundle that cannot would fail every request as if the
    network had, and an account's requests would look like an outage of its Exotel."""
    if not os.path.exists(bundle):
        problem = "does not exist"
    elif os.path.isdir(bundle):  # read as certificates are asked for: see that it has some
        certificates = (".pem", ".crt", ".0")
        problem = "" if any(n.endswith(certificates) for n in os.listdir(bundle)) else "is empty"
    else:
        try:
            ssl.create_default_context(cafile=bundle)
        except (OSError, ValueError):  # ssl.SSLError is an OSError
            problem = "holds no certificates"
        else:
            problem = ""
    if problem:
        raise Unusable(
            f"the CA bundle {bundle} {problem} (check REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE)"
        )


def session(pool_size: int = 64) -> Pools:
    """The connections of a process's clients (:class:`Pools`)."""
    return Pools(pool_size)


def environment_options(url: str) -> dict[str, Any]:
    """What ``requests`` would take from the environment for requests to ``url``: the proxies
    (``HTTPS_PROXY``, ``NO_PROXY``...) and the CA bundle (``REQUESTS_CA_BUNDLE``,
    ``CURL_CA_BUNDLE``)."""
    options: dict[str, Any] = {"proxies": get_environ_proxies(url)}
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        options["verify"] = bundle
    return options


def proxy_for(url: str, proxies: dict[str, str]) -> str | None:
    """The proxy ``requests`` would use for ``url`` among ``proxies`` (by scheme, or all),
    with ``http://`` put before one given without a scheme, as ``requests`` does."""
    scheme = urlsplit(url).scheme.lower()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy:
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def maybe_sent(exc: BaseException) -> bool:
    """Whether a request that failed with ``exc`` may have reached the server: anything but a
    connection that was never made (refused, no such host, timed out while connecting, to the
    proxy too, or a tunnel the proxy refused) or a URL that could not be read."""
    # NewConnectionError (refused, no such host) is a ConnectTimeoutError too. A ProxyError
    # alone says nothing: urllib3 also raises one for a tunnel lost after the request went.
    errors = chain(exc)
    never = any(isinstance(e, ConnectTimeoutError | LocationValueError) for e in errors)
    return not (never or tunnel_refused(errors) is not None)


_TUNNEL = re.compile(r"^Tunnel connection failed: (\d{3})\b(.{0,60})")


def tunnel_refused(errors: list[BaseException]) -> tuple[int, str] | None:
    """``(status, phrase)`` of a proxy's answer refusing the tunnel to the server (``CONNECT``),
    if that is what failed: nothing was sent to the server."""
    for e in errors:
        if type(e) is OSError and (found := _TUNNEL.match(str(e))):
            return int(found.group(1)), found.group(2).strip()
    return None


def chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps (args, urllib3's ``reason``, causes), outermost first."""
    seen: list[BaseException] = []
    todo: list[object] = [exc]
    while todo:
        e = todo.pop(0)
        if isinstance(e, BaseException) and all(e is not s for s in seen):
            seen.append(e)
            todo += [*e.args, getattr(e, "reason", None), e.__cause__, e.__context__]
    return seen


def reason(errors: list[BaseException]) -> str:
    """A short cause such as "connection refused", without URLs or object reprs."""
    for e in reversed(errors):  # the innermost OS error says it best
        if isinstance(e, ssl.SSLError):
            return f"TLS error {e.reason or e.errno}"
        if isinstance(e, OSError) and e.strerror:
            return str(e.strerror).lower()
    if any(isinstance(e, ProtocolError | http.client.HTTPException) for e in errors):
        return "connection broken before the response was complete"
    return type(errors[-1]).__name__

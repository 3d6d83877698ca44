"""A proxy.py plugin for the proxy tests: names under ``.passmint.test`` resolve to loopback
inside the proxy only (so a request for them works through the proxy and fails without it),
and every request the proxy forwards is logged, one ``METHOD host:port`` line each, to the
file ``PASSMINT_PROXY_LOG`` names."""

from __future__ import annotations

import os

from proxy.http.proxy import HttpProxyBasePlugin

TEST_DOMAIN = ".passmint.test"


class CountingResolver(HttpProxyBasePlugin):
    def resolve_dns(self, host: str, port: int):
        if host.endswith(TEST_DOMAIN):
            return "127.0.0.1", None
        return None, None

    def before_upstream_connection(self, request):
        host = request.host.decode() if request.host else "?"
        line = f"{request.method.decode()} {host}:{request.port}\n"
        with open(os.environ["PASSMINT_PROXY_LOG"], "a") as log:
            log.write(line)
        return request

    def handle_client_request(self, request):
        return request

    def handle_upstream_chunk(self, chunk):
        return chunk

    def on_upstream_connection_close(self):
        pass

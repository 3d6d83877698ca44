"""Plain-urllib helpers for driving the mock from tests (no SDK in the way)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request


def fetch(url, method="GET", headers=None, data=None, timeout=10, context=None):
    """(status, body text, headers) without raising on HTTP errors."""
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
            return resp.status, resp.read().decode(), resp.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers


def post_form(url, fields, headers=None, **kw):
    """POST ``fields`` urlencoded, as the OAuth token endpoints want them."""
    data = urllib.parse.urlencode(fields).encode()
    return fetch(url, "POST", {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}, data, **kw)


def control(mock, op, payload=None):
    data = json.dumps(payload or {}).encode()
    return fetch(f"{mock.http_url}/_mock/{op}", "POST", {"Content-Type": "application/json"}, data)

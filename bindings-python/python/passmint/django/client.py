"""`manage.py dbshell` for passmint.django: psql, given a token as its password."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from django.db.backends.postgresql import client as postgresql

if TYPE_CHECKING:
    from .base import DatabaseWrapper


class DatabaseClient(postgresql.DatabaseClient):
    """Django's psql client, run with the settings a connection would log in with: a token in
    PGPASSWORD, the backend's TLS default in PGSSLMODE and the token's role when USER is unset."""

    def runshell(self, parameters: Iterable[str]) -> None:
        settings = cast("DatabaseWrapper", self.connection).passmint_shell_settings()
        args, env = self.settings_to_cmd_args_env(settings, list(parameters))
        child_env: dict[str, Any] = {**os.environ, **(env or {})}
        # As Django's own client: psql takes SIGINT, to cancel a query, and this process ignores it.
        sigint_handler = signal.getsignal(signal.SIGINT)
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            subprocess.run(args, env=child_env, check=True)
        finally:
            signal.signal(signal.SIGINT, sigint_handler)

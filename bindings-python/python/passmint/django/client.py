"""`manage.py dbshell` for passmint.django: psql, given a token as its password."""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from django.db.backends.postgresql import client as postgresql

if TYPE_CHECKING:
    from .base import DatabaseWrapper


class DatabaseClient(postgresql.DatabaseClient):
    """Django's psql client, run with the settings a connection would log in with: a token in
    PGPASSWORD, the backend's TLS default in PGSSLMODE and the token's role when USER is unset."""

    def runshell(self, parameters: Iterable[str]) -> None:
        wrapper = cast("DatabaseWrapper", self.connection)
        # Django's runshell (SIGINT to psql, the environment merged) reads the settings off
        # self.connection: for this one run, it sees the ones with the token.
        self.connection = cast("Any", SimpleNamespace(settings_dict=wrapper.passmint_shell_settings()))
        try:
            super().runshell(parameters)
        finally:
            self.connection = wrapper

"""passmint: short-lived PostgreSQL passwords from cloud identity.

    import passmint
    provider = passmint.Provider.for_postgres_url("postgresql://app@mydb.postgres.database.azure.com/app")
    password = provider.token()            # or: await provider.token_async()

Driver helpers: passmint.psycopg, passmint.psycopg2, passmint.asyncpg, passmint.sqlalchemy; the
Django database backend ``ENGINE: "passmint.django"``.
"""

from __future__ import annotations

import atexit

from ._native import Provider, Token, __version__, _interpreter_exiting
from .errors import (
    AuthenticationFailedError,
    CredentialUnavailableError,
    Error,
    InternalError,
    InvalidArgumentError,
    InvalidConfigError,
    NetworkError,
    ProviderResponseError,
    TimeoutError,
)

# From exit on, passmint's threads leave the interpreter alone (_native's interpreter_alive).
atexit.register(_interpreter_exiting)

__all__ = [
    "AuthenticationFailedError",
    "CredentialUnavailableError",
    "Error",
    "InternalError",
    "InvalidArgumentError",
    "InvalidConfigError",
    "NetworkError",
    "Provider",
    "ProviderResponseError",
    "TimeoutError",
    "Token",
    "__version__",
    "awssm",
    "azure",
    "azure_identity",
    "dsql",
    "gcp",
    "rds",
    "vault",
]


def _build(kind: str, fields: dict[str, object], credentials: object = None) -> Provider:
    # The core checks the names and values and builds the provider; no URL is written here.
    given = [(k, "true" if v is True else str(v)) for k, v in fields.items() if v is not None and v is not False]
    if fields.get("shared_cache") is False:
        given.append(("shared_cache", "0"))
    if credentials is not None:
        from ._callback import aws_credentials

        return Provider._from_fields_with_aws_credentials(kind, given, aws_credentials(credentials))
    return Provider._from_fields(kind, given)


def azure(
    *,
    credential: str | None = None,
    client_id: str | None = None,
    object_id: str | None = None,
    resource_id: str | None = None,
    tenant_id: str | None = None,
    cloud: str | None = None,
    scope: str | None = None,
    allow_custom_scope: bool = False,
    user: str | None = None,
    shared_cache: bool | None = None,
) -> Provider:
    """An Entra ID provider for Azure Database for PostgreSQL (the ``azure://`` parameters).
    ``scope`` is one of the clouds' database scopes unless ``allow_custom_scope=True``."""
    return _build("azure", {
        "credential": credential, "client_id": client_id, "object_id": object_id,
        "resource_id": resource_id, "tenant_id": tenant_id, "cloud": cloud, "scope": scope,
        "allow_custom_scope": allow_custom_scope, "user": user, "shared_cache": shared_cache,
    })


def azure_identity(credential: object, *, cloud: str | None = None, user: str | None = None) -> Provider:
    """A provider over an azure-identity credential you already have (sync, or from
    ``azure.identity.aio``): it asks the credential for the Azure Database for PostgreSQL scope of
    ``cloud`` (``public``, ``usgov``, ``china``), and the role is ``user``, else the token's
    claims, as for ``azure://``. Coroutines run on a loop of passmint's own."""
    from . import _callback
    from ._native import azure_scope

    scope = azure_scope(cloud or "public")
    get_token = getattr(credential, "get_token", None)
    if not callable(get_token):
        raise InvalidArgumentError(
            "INVALID_ARGUMENT", f"azure_identity() needs an azure-identity credential, not a {type(credential).__name__}")
    call, _ = _callback.prepare(lambda: get_token(scope))
    return Provider._from_azure_callable(call, f"azure-identity {type(credential).__name__}", user)


def gcp(
    *,
    credential: str | None = None,
    impersonate: str | None = None,
    scope: str | None = None,
    allow_custom_scope: bool = False,
    quota_project: str | None = None,
    user: str | None = None,
    shared_cache: bool | None = None,
) -> Provider:
    """A Google Cloud SQL / AlloyDB IAM provider (the ``gcp://`` parameters): Application Default
    Credentials, or the ``credential`` named. ``user`` defaults to the credential's e-mail as Cloud
    SQL names its database user (``name@project.iam`` for a service account)."""
    return _build("gcp", {
        "credential": credential, "impersonate": impersonate, "scope": scope,
        "allow_custom_scope": allow_custom_scope, "quota_project": quota_project, "user": user,
        "shared_cache": shared_cache,
    })


def awssm(
    secret_id: str,
    *,
    region: str | None = None,
    profile: str | None = None,
    refresh: int | None = None,
    version_stage: str | None = None,
    user: str | None = None,
    credentials: object = None,
) -> Provider:
    """A database secret in AWS Secrets Manager (the ``awssm://`` parameters): its ``username`` and
    ``password``, read again every ``refresh`` seconds (300) and at once after a refused password.
    ``credentials``: a boto3 ``Session``, botocore credentials, or a callable, as for ``dsql``."""
    return _build("awssm", {"secret_id": secret_id, "region": region, "profile": profile, "refresh": refresh,
                            "version_stage": version_stage, "user": user}, credentials)


def vault(
    path: str,
    *,
    host: str | None = None,
    port: int | None = None,
    auth: str | None = None,
    role: str | None = None,
    auth_mount: str | None = None,
    jwt_file: str | None = None,
    role_id: str | None = None,
    secret_id_file: str | None = None,
    namespace: str | None = None,
    user: str | None = None,
    refresh: int | None = None,
) -> Provider:
    """HashiCorp Vault / OpenBao credentials (the ``vault://`` parameters): ``path`` is
    ``<mount>/creds/<role>``, ``<mount>/static-creds/<role>`` or a KV v2 ``<mount>/data/<path>``; the
    server is ``host``/``port``, else ``VAULT_ADDR``. ``auth``: ``token`` (``VAULT_TOKEN`` or
    ``~/.vault-token``), ``kubernetes`` (``role``, ``jwt_file``) or ``approle`` (``role_id``,
    ``secret_id_file``). Each lease's username is the token's."""
    return _build("vault", {
        "path": path, "host": host, "port": port, "auth": auth, "role": role, "auth_mount": auth_mount,
        "jwt_file": jwt_file, "role_id": role_id, "secret_id_file": secret_id_file, "namespace": namespace,
        "user": user, "refresh": refresh,
    })


def dsql(
    host: str,
    *,
    region: str | None = None,
    user: str | None = None,
    expires_in: int | None = None,
    profile: str | None = None,
    credentials: object = None,
    shared_cache: bool | None = None,
) -> Provider:
    """An Aurora DSQL provider: ``host`` is the cluster endpoint or, with ``region``, its id.
    ``credentials``: a boto3 ``Session``, botocore credentials, or a callable returning them
    (``{"access_key_id", "secret_access_key", "session_token"?, "expires_at"?}``), in place
    of the default AWS chain; signing stays in passmint."""
    return _build("dsql", {"host": host, "region": region, "user": user, "expires_in": expires_in,
                           "profile": profile, "shared_cache": shared_cache}, credentials)


def rds(
    host: str,
    *,
    user: str,
    port: int | None = None,
    region: str | None = None,
    profile: str | None = None,
    credentials: object = None,
    shared_cache: bool | None = None,
) -> Provider:
    """An RDS / Aurora IAM provider; ``user`` is signed into the token. ``credentials`` as for
    :func:`dsql`."""
    return _build("rds", {"host": host, "port": port, "user": user, "region": region, "profile": profile,
                          "shared_cache": shared_cache}, credentials)

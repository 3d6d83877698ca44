"""Settings of the test project. The test (tests/django/test_django.py) chooses the databases:

- PASSMINT_DJANGO_DATABASES: JSON, DATABASES as settings.py would spell it;
- PASSMINT_DJANGO_PROVIDER_OBJECT: a provider URL; every OPTIONS["provider"] that is
  "<object>" becomes one passmint.Provider built from it (a Provider in settings);
- DATABASE_URL: dj-database-url's, read as a project using it would (`postgres+passmint://`);
- PASSMINT_DJANGO_HIDE_PSYCOPG: psycopg 3 cannot be imported, so Django uses psycopg2, as on
  a machine with psycopg2 only.
"""

import json
import os
import sys

if os.environ.get("PASSMINT_DJANGO_HIDE_PSYCOPG"):
    sys.modules["psycopg"] = None  # type: ignore[assignment]  # `import psycopg` raises ImportError

import passmint
import passmint.django  # registers postgres+passmint:// with dj-database-url

SECRET_KEY = "test-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
ROOT_URLCONF = "passmint_site.urls"
INSTALLED_APPS = ["notes"]
MIDDLEWARE: list[str] = []
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    # Every SQL statement and connection event, so the test can check no token reaches a log.
    "loggers": {"django.db": {"handlers": ["stderr"], "level": "DEBUG"}, "passmint": {"handlers": ["stderr"], "level": "DEBUG"}},
}

DATABASES = json.loads(os.environ.get("PASSMINT_DJANGO_DATABASES", "{}"))
if os.environ.get("DATABASE_URL"):
    import dj_database_url

    DATABASES["default"] = dj_database_url.config()

_object_url = os.environ.get("PASSMINT_DJANGO_PROVIDER_OBJECT")
if _object_url:
    _provider = passmint.Provider(_object_url)
    for _db in DATABASES.values():
        if _db.get("OPTIONS", {}).get("provider") == "<object>":
            _db["OPTIONS"]["provider"] = _provider

from django.db import connections
from django.http import JsonResponse

from .models import Note


def session(conn) -> dict:
    """Who the server says this session is, and how the driver reached it."""
    with conn.cursor() as cursor:
        cursor.execute("SELECT current_user, pg_backend_pid()")
        user, pid = cursor.fetchone()
    raw = conn.connection
    if hasattr(raw, "pgconn"):  # psycopg 3
        ssl_in_use, sslmode, driver = raw.pgconn.ssl_in_use, raw.info.get_parameters().get("sslmode"), "psycopg"
    else:  # psycopg2
        ssl_in_use, sslmode, driver = raw.info.ssl_in_use, raw.get_dsn_parameters().get("sslmode"), "psycopg2"
    return {"user": user, "pid": pid, "ssl": bool(ssl_in_use), "sslmode": sslmode, "driver": driver}


def who(request):
    """One ORM write and read on the database ``?alias=`` names, then the session's identity."""
    alias = request.GET.get("alias", "default")
    Note.objects.using(alias).create(text="hello")
    return JsonResponse({**session(connections[alias]), "notes": Note.objects.using(alias).count()})

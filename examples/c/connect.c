/*
 * connect: log into PostgreSQL with libpq, using a passmint token as the password.
 *
 *   connect <provider-url>        e.g. connect 'azure://?credential=managed'
 *   connect --for <postgres-url>  e.g. connect --for postgresql://app@mydb.postgres.database.azure.com/app
 *
 * With a provider URL, where to connect comes from libpq's own environment variables
 * (PGHOST, PGPORT, PGUSER, PGDATABASE, PGSSLMODE, PGSSLROOTCERT, ...). With --for, passmint
 * picks the provider from the server's host name and libpq connects to that URL; the
 * variables fill in what it does not say.
 *
 * The user is PGUSER (or the URL's); when neither is set, the role the token is for
 * (passmint_token_username). The token is a password, so TLS is verified by default:
 * sslmode=verify-full unless PGSSLMODE (or the URL) chooses.
 *
 * Prints the token's provider and expiry (never the token), then current_user and
 * whether the session is encrypted. Exit status: 0 connected, 2 usage, 3 no token
 * (passmint's status and message on stderr), 4 PostgreSQL refused or unreachable.
 *
 * Build: make (pkg-config finds passmint and libpq; PKG_CONFIG_PATH=<prefix>/lib/pkgconfig
 * for a passmint installed elsewhere).
 */
#define _POSIX_C_SOURCE 200809L
#include <passmint.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int usage(void) {
    fputs("usage: connect <provider-url>\n"
          "       connect --for <postgres-url>\n",
          stderr);
    return 2;
}

static int is_set(const char *s) { return s != NULL && s[0] != '\0'; }

/* Whether the connection already names `keyword`: in the URL (--for) or in its PG* variable. */
static int chosen(PQconninfoOption *url_options, const char *keyword, const char *envvar) {
    for (PQconninfoOption *o = url_options; o && o->keyword; o++) {
        if (strcmp(o->keyword, keyword) == 0 && is_set(o->val)) return 1;
    }
    return is_set(getenv(envvar));
}

static void add(const char **keys, const char **vals, int *n, const char *key, const char *val) {
    keys[*n] = key;
    vals[*n] = val;
    (*n)++;
}

static int passmint_failed(const char *what, passmint_status status, passmint_error *err) {
    fprintf(stderr, "connect: %s: %s: %s\n", what, passmint_status_name(status),
            err ? passmint_error_message(err) : "(no message)");
    passmint_error_free(err);
    return 3;
}

int main(int argc, char **argv) {
    const char *pg_url = NULL, *provider_url = NULL;
    if (argc == 3 && strcmp(argv[1], "--for") == 0) {
        pg_url = argv[2];
    } else if (argc == 2 && argv[1][0] != '-') {
        provider_url = argv[1];
    } else {
        return usage();
    }

    PQconninfoOption *url_options = NULL;
    if (pg_url) {
        char *parse_error = NULL;
        url_options = PQconninfoParse(pg_url, &parse_error);
        if (!url_options) {
            fprintf(stderr, "connect: %s", parse_error ? parse_error : "not a connection URL\n");
            PQfreemem(parse_error);
            return 2;
        }
    }

    /* One provider per database target; a long-running program keeps it and calls
     * passmint_token_get before every new connection (cache hits cost nanoseconds). */
    passmint_provider *provider = NULL;
    passmint_error *err = NULL;
    passmint_status st = pg_url ? passmint_provider_for_postgres_url(pg_url, &provider, &err)
                                : passmint_provider_new(provider_url, &provider, &err);
    if (st != PASSMINT_OK) {
        PQconninfoFree(url_options);
        return passmint_failed("passmint provider", st, err);
    }
    passmint_token *token = NULL;
    st = passmint_token_get(provider, &token, &err);
    if (st != PASSMINT_OK) {
        PQconninfoFree(url_options);
        passmint_provider_free(provider);
        return passmint_failed("passmint token", st, err);
    }
    const char *username = passmint_token_username(token);
    printf("token: %s, for %s, expires in %lld s\n", passmint_token_provider(token),
           username ? username : "(role not known)", (long long)(passmint_token_expires_at(token) - time(NULL)));

    /* Keyword/value arrays: no quoting, so any token passes unchanged. With expand_dbname,
     * the URL (first) is expanded and the keywords after it override it. */
    const char *keys[5] = {NULL}, *vals[5] = {NULL};
    int n = 0;
    if (pg_url) add(keys, vals, &n, "dbname", pg_url);
    add(keys, vals, &n, "password", passmint_token_secret(token));
    if (username && !chosen(url_options, "user", "PGUSER")) add(keys, vals, &n, "user", username);
    if (!chosen(url_options, "sslmode", "PGSSLMODE")) add(keys, vals, &n, "sslmode", "verify-full");

    PGconn *conn = PQconnectdbParams(keys, vals, pg_url != NULL);
    /* libpq keeps its own copy of every value: the token can go (it is zeroized). */
    passmint_token_free(token);
    passmint_provider_free(provider);
    PQconninfoFree(url_options);

    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "connect: PostgreSQL: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return 4;
    }
    PGresult *res = PQexec(conn, "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        fprintf(stderr, "connect: query failed: %s", PQerrorMessage(conn));
        PQclear(res);
        PQfinish(conn);
        return 4;
    }
    const char *protocol = PQsslAttribute(conn, "protocol");
    printf("current_user: %s\n", PQgetvalue(res, 0, 0));
    printf("ssl: %s (%s; server says %s)\n", PQsslInUse(conn) ? "on" : "off", protocol ? protocol : "no TLS",
           strcmp(PQgetvalue(res, 0, 1), "t") == 0 ? "on" : "off");
    PQclear(res);
    PQfinish(conn);
    return 0;
}

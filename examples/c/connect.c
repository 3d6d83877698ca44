/*
 * connect: log into PostgreSQL with libpq, using a passmint token as the password.
 *
 *   connect <provider-url>        e.g. connect 'azure://?credential=managed'
 *   connect --for <postgres-url>  e.g. connect --for postgresql://app@mydb.postgres.database.azure.com/app
 *   connect --token-file <path>   a token your own process keeps fresh in a file (a sidecar, an
 *                                 agent): passmint_provider_from_callback reads it each minute
 *   connect --aws-keys <PREFIX> <dsql://… or rds://…>
 *                                 AWS credentials of your own (here <PREFIX>ACCESS_KEY_ID,
 *                                 <PREFIX>SECRET_ACCESS_KEY, <PREFIX>SESSION_TOKEN and
 *                                 <PREFIX>EXPIRES_AT, as an in-house broker might hand them over)
 *                                 signing the token: passmint_provider_with_aws_credentials
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

static int is_set(const char *s) { return s != NULL && s[0] != '\0'; }

static int usage(void) {
    fputs("usage: connect <provider-url>\n"
          "       connect --for <postgres-url>\n"
          "       connect --token-file <path>\n"
          "       connect --aws-keys <PREFIX> <provider-url>\n",
          stderr);
    return 2;
}

/* --token-file: passmint calls this on its own thread when the cache needs a token (once for any
 * number of concurrent callers), and serves the answer until a minute before `expires_at`. */
static void read_token_file(void *path, passmint_completion *done) {
    char buf[8192];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
    buf[n] = '\0';
    if (n == 0) {
        passmint_completion_error(done, PASSMINT_CREDENTIAL_UNAVAILABLE, "the token file is missing or empty");
        return;
    }
    /* The file is rewritten before its token expires: read it again in two minutes (passmint
     * refreshes ahead, and keeps serving this token if a read fails meanwhile). */
    passmint_completion_token(done, buf, (int64_t)time(NULL) + 120, NULL);
}

/* --aws-keys: AWS credentials for passmint to sign with, asked for when its credentials cache
 * needs them (again ahead of EXPIRES_AT, unix seconds; unset for long-term keys). */
static void read_aws_keys(void *prefix, passmint_aws_completion *done) {
    char names[4][128];
    const char *suffix[4] = {"ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN", "EXPIRES_AT"};
    for (int i = 0; i < 4; i++) snprintf(names[i], sizeof names[i], "%s%s", (const char *)prefix, suffix[i]);
    const char *id = getenv(names[0]), *secret = getenv(names[1]), *expires = getenv(names[3]);
    if (!is_set(id) || !is_set(secret)) {
        passmint_aws_completion_error(done, PASSMINT_CREDENTIAL_UNAVAILABLE, "the AWS keys are not in the environment");
        return;
    }
    passmint_aws_completion_credentials(done, id, secret, getenv(names[2]), is_set(expires) ? atoll(expires) : 0);
}

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
    const char *pg_url = NULL, *provider_url = NULL, *token_file = NULL, *aws_prefix = NULL;
    if (argc == 3 && strcmp(argv[1], "--for") == 0) {
        pg_url = argv[2];
    } else if (argc == 3 && strcmp(argv[1], "--token-file") == 0) {
        token_file = argv[2];
    } else if (argc == 4 && strcmp(argv[1], "--aws-keys") == 0) {
        aws_prefix = argv[2];
        provider_url = argv[3];
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
    passmint_status st;
    if (pg_url) {
        st = passmint_provider_for_postgres_url(pg_url, &provider, &err);
    } else if (token_file) {
        st = passmint_provider_from_callback(read_token_file, (void *)token_file, &provider, &err);
    } else if (aws_prefix) {
        st = passmint_provider_with_aws_credentials(provider_url, read_aws_keys, (void *)aws_prefix, &provider, &err);
    } else {
        st = passmint_provider_new(provider_url, &provider, &err);
    }
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

/*
 * ffi_test: libpassmint's C ABI (include/passmint.h) exercised from C, the way a C
 * program links it. Built and driven by tests/c/test_c_abi.py, which starts the mock
 * identity server, sets the environment (App Service, container credentials, ...),
 * and checks the mock's request log after each run.
 *
 *   ffi_test api [expected-version]            NULL arguments, bad URLs, names; no network
 *   ffi_test token URL PROVIDER USERNAME|-     blocking and async tokens (2 identity fetches)
 *   ffi_test token --for PG-URL PROVIDER USERNAME|-
 *   ffi_test stress URL THREADS CALLS          THREADS x CALLS gets on one cold provider (1 fetch)
 *   ffi_test error URL STATUS-NAME             blocking and async failure, side by side
 *   ffi_test free-inflight URL ASYNC-CALLS     provider freed while async calls are in flight
 *   ffi_test fork URL FORKS WINDOW-MS          FORKS times, in a fresh process: a thread starts the
 *                                              process's first fetch, the main thread forks 0..WINDOW-MS
 *                                              into it; each child's blocking and async gets must end
 *                                              within the deadline, the callback called exactly once
 *   ffi_test cold-in-callback URL              a blocking get on a cold provider from inside an async
 *                                              callback (on passmint's own thread)
 *   ffi_test callback                          a C token source and a C AWS credentials source
 *   ffi_test soak URL SECONDS THREADS          libpassmint alone over time: THREADS loop blocking
 *                                              and async gets on one provider, one more thread makes,
 *                                              uses and frees a provider every 200 ms; every 5 s a
 *                                              "# sample {json}" line with RSS, fds and threads
 *
 * Output is TAP-like: "ok N - what" / "not ok N - what", '#' lines for details
 * ("# token {json}", "# message: ..."), then "1..N". Exit 0 only if every check passed.
 * Secrets are never printed: a token shows as its length and FNV-1a hash.
 */
#define _POSIX_C_SOURCE 200809L /* strdup, nanosleep, barriers; before any header */
#include <passmint.h>             /* first: the installed header stands on its own */

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define ASYNC_WAIT_S 25 /* the 10 s deadline, plus room for valgrind */

/* --- reporting ------------------------------------------------------------------- */

static pthread_mutex_t report_mu = PTHREAD_MUTEX_INITIALIZER;
static int checks_run;
static int checks_failed;

static int check(int ok, const char *fmt, ...) {
    va_list ap;
    pthread_mutex_lock(&report_mu);
    checks_run++;
    if (!ok) checks_failed++;
    printf("%s %d - ", ok ? "ok" : "not ok", checks_run);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    pthread_mutex_unlock(&report_mu);
    return ok;
}

static void note(const char *fmt, ...) {
    va_list ap;
    pthread_mutex_lock(&report_mu);
    fputs("# ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    pthread_mutex_unlock(&report_mu);
}

static int finish(void) {
    printf("1..%d\n# %d passed, %d failed\n", checks_run, checks_run - checks_failed, checks_failed);
    return checks_failed == 0 && checks_run > 0 ? 0 : 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static int streq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

static const char *show(const char *s) { return s ? s : "(null)"; }

/* A JSON string literal of s (null for NULL); names and messages only, never secrets. */
static void json_str(char *buf, size_t cap, const char *s) {
    size_t n = 0;
    if (!s) {
        snprintf(buf, cap, "null");
        return;
    }
    buf[n++] = '"';
    for (; *s && n + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(buf + n, cap - n, "\\u%04x", c);
        } else {
            buf[n++] = (char)c;
        }
    }
    buf[n++] = '"';
    buf[n] = '\0';
}

/* --- what every failure must look like ------------------------------------------- */

/* Environment variables whose values are secrets an error message must never contain. */
static const char *const SECRET_VARS[] = {
    "IDENTITY_HEADER",  "AZURE_CLIENT_SECRET", "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "MSI_SECRET",
};

static int message_is_clean(const char *msg, const char *also_forbidden) {
    for (size_t i = 0; i < sizeof SECRET_VARS / sizeof *SECRET_VARS; i++) {
        const char *v = getenv(SECRET_VARS[i]);
        if (v && strlen(v) >= 8 && strstr(msg, v)) return 0;
    }
    return !(also_forbidden && *also_forbidden && strstr(msg, also_forbidden));
}

/* Checks an error handle: the status, a non-empty message free of secrets. Frees it. */
static void check_error(passmint_error *e, passmint_status want, const char *what, const char *forbidden) {
    if (!check(e != NULL, "%s: error handle set", what)) return;
    passmint_status got = passmint_error_status(e);
    check(got == want, "%s: error status %s (got %s)", what, passmint_status_name(want), passmint_status_name(got));
    const char *msg = passmint_error_message(e);
    check(msg != NULL && msg[0] != '\0', "%s: error message is not empty", what);
    if (msg) {
        check(message_is_clean(msg, forbidden), "%s: error message holds no secret", what);
        note("message (%s): %s", what, msg);
    }
    passmint_error_free(e);
}

/* --- async calls ------------------------------------------------------------------- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t caller;
    int calls;
    int on_caller_thread;
    passmint_status status;
    int had_token;
    int had_error;
    char *secret;
    char *username;
    char *provider;
    int64_t expires_at;
    passmint_status error_status;
    char *message;
} async_ctx;

static async_ctx *async_ctx_new(void) {
    async_ctx *c = calloc(1, sizeof *c);
    if (!c) abort();
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->caller = pthread_self();
    return c;
}

static void async_ctx_free(async_ctx *c) {
    if (!c) return;
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c->secret);
    free(c->username);
    free(c->provider);
    free(c->message);
    free(c);
}

/* The callback owns token and error: it copies what the test wants and frees both. */
static void on_token(void *user_data, passmint_status status, passmint_token *token, passmint_error *error) {
    async_ctx *c = user_data;
    pthread_mutex_lock(&c->mu);
    c->calls++;
    if (c->calls == 1) {
        c->on_caller_thread = pthread_equal(pthread_self(), c->caller);
        c->status = status;
        c->had_token = token != NULL;
        c->had_error = error != NULL;
        c->secret = dup_or_null(passmint_token_secret(token));
        c->username = dup_or_null(passmint_token_username(token));
        c->provider = dup_or_null(passmint_token_provider(token));
        c->expires_at = passmint_token_expires_at(token);
        c->error_status = error ? passmint_error_status(error) : PASSMINT_OK;
        c->message = dup_or_null(passmint_error_message(error));
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    passmint_token_free(token);
    passmint_error_free(error);
}

static int async_calls(async_ctx *c) {
    pthread_mutex_lock(&c->mu);
    int calls = c->calls;
    pthread_mutex_unlock(&c->mu);
    return calls;
}

/* Waits up to `seconds` for the first call. */
static void async_wait_first(async_ctx *c, int seconds) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += seconds;
    pthread_mutex_lock(&c->mu);
    while (c->calls == 0) {
        if (pthread_cond_timedwait(&c->cv, &c->mu, &deadline) != 0 && c->calls == 0) break;
    }
    pthread_mutex_unlock(&c->mu);
}

/* How long a second (wrong) call gets to show up after the first. */
#define SECOND_CALL_GRACE_MS 150

/* Waits for the first call, then a little longer to catch a second one. Returns the calls
 * seen; 0 means the callback never came (the context is then leaked on purpose: a late
 * call must not touch freed memory). */
static int async_wait(async_ctx *c, int seconds) {
    async_wait_first(c, seconds);
    sleep_ms(SECOND_CALL_GRACE_MS);
    return async_calls(c);
}

/* One NULL-user_data call is counted here (user_data is the caller's business). */
static atomic_int null_ud_calls;
static atomic_int null_ud_status = -1;

static void on_token_null_ud(void *user_data, passmint_status status, passmint_token *token, passmint_error *error) {
    atomic_store(&null_ud_status, user_data == NULL ? (int)status : -2);
    passmint_token_free(token);
    passmint_error_free(error);
    atomic_fetch_add(&null_ud_calls, 1);
}

/* --- api: arguments, URLs, names ----------------------------------------------------- */

static char sentinel_storage;
#define SENTINEL(type) ((type *)(void *)&sentinel_storage)

typedef passmint_status (*ctor_fn)(const char *, passmint_provider **, passmint_error **);

static void expect_ctor_failure(ctor_fn ctor, const char *ctor_name, const char *url, const char *label,
                                passmint_status want) {
    passmint_provider *p = SENTINEL(passmint_provider);
    passmint_error *e = NULL;
    passmint_status st = ctor(url, &p, &e);
    check(st == want, "%s(%s) -> %s (got %s)", ctor_name, label, passmint_status_name(want), passmint_status_name(st));
    check(p == NULL, "%s(%s): *out set to NULL on failure", ctor_name, label);
    check_error(e, want, label, NULL);
    if (p != NULL && p != SENTINEL(passmint_provider)) passmint_provider_free(p);
    /* And without an error out-parameter: the same status, nothing else to free. */
    p = SENTINEL(passmint_provider);
    st = ctor(url, &p, NULL);
    check(st == want && p == NULL, "%s(%s, err=NULL) -> %s, *out NULL", ctor_name, label, passmint_status_name(want));
    if (p != NULL && p != SENTINEL(passmint_provider)) passmint_provider_free(p);
}

static void api(const char *expected_version) {
    /* Names. */
    static const char *const names[] = {
        "PASSMINT_OK",        "PASSMINT_INVALID_ARGUMENT",       "PASSMINT_INVALID_CONFIG",
        "PASSMINT_CREDENTIAL_UNAVAILABLE", "PASSMINT_AUTHENTICATION_FAILED", "PASSMINT_TIMEOUT",
        "PASSMINT_NETWORK",   "PASSMINT_PROVIDER_RESPONSE",      "PASSMINT_PANIC",
        "PASSMINT_INTERNAL",
    };
    static const passmint_status codes[] = {
        PASSMINT_OK,      PASSMINT_INVALID_ARGUMENT, PASSMINT_INVALID_CONFIG, PASSMINT_CREDENTIAL_UNAVAILABLE,
        PASSMINT_AUTHENTICATION_FAILED, PASSMINT_TIMEOUT, PASSMINT_NETWORK, PASSMINT_PROVIDER_RESPONSE,
        PASSMINT_PANIC,   PASSMINT_INTERNAL,
    };
    int names_ok = 1;
    for (int i = 0; i < 10; i++) {
        names_ok &= (int)codes[i] == i && streq(passmint_status_name(codes[i]), names[i]);
    }
    check(names_ok, "status values 0..9 and their names match DESIGN section 6");
    const char *unknown = passmint_status_name(42);
    check(unknown != NULL && strncmp(unknown, "PASSMINT_", 9) == 0, "status_name(42) is a static name (%s)", show(unknown));
    check(passmint_status_name(-1) != NULL, "status_name(-1) is not NULL");
    const char *version = passmint_version();
    check(version != NULL && version[0] != '\0', "version is a string (%s)", show(version));
    if (expected_version) check(streq(version, expected_version), "version is %s", expected_version);

    /* NULL arguments to the constructors. */
    const char *good = "dsql://abc.dsql.us-east-1.on.aws";
    const char *good_pg = "postgresql://app@abc.dsql.us-east-1.on.aws/postgres";
    ctor_fn ctors[] = {passmint_provider_new, passmint_provider_for_postgres_url};
    const char *ctor_names[] = {"provider_new", "provider_for_postgres_url"};
    const char *good_urls[] = {good, good_pg};
    for (int i = 0; i < 2; i++) {
        expect_ctor_failure(ctors[i], ctor_names[i], NULL, "url=NULL", PASSMINT_INVALID_ARGUMENT);
        passmint_error *e = NULL;
        passmint_status st = ctors[i](good_urls[i], NULL, &e);
        check(st == PASSMINT_INVALID_ARGUMENT, "%s(out=NULL) -> PASSMINT_INVALID_ARGUMENT (got %s)", ctor_names[i],
              passmint_status_name(st));
        check_error(e, PASSMINT_INVALID_ARGUMENT, "out=NULL", NULL);
        st = ctors[i](good_urls[i], NULL, NULL);
        check(st == PASSMINT_INVALID_ARGUMENT, "%s(out=NULL, err=NULL) -> PASSMINT_INVALID_ARGUMENT", ctor_names[i]);
        passmint_provider *p = NULL;
        e = NULL;
        st = ctors[i](good_urls[i], &p, &e);
        check(st == PASSMINT_OK && p != NULL && e == NULL, "%s(valid URL) -> OK, provider set, no error", ctor_names[i]);
        passmint_error_free(e);
        passmint_provider_free(p);
        p = NULL;
        st = ctors[i](good_urls[i], &p, NULL);
        check(st == PASSMINT_OK && p != NULL, "%s(valid URL, err=NULL) -> OK", ctor_names[i]);
        passmint_provider_free(p);
    }

    /* Invalid UTF-8 is an argument error, not a config error. */
    expect_ctor_failure(passmint_provider_new, "provider_new", "azure://?user=\xff\xfe", "invalid UTF-8",
                        PASSMINT_INVALID_ARGUMENT);
    expect_ctor_failure(passmint_provider_new, "provider_new", "dsql://abc\xc3\x28.dsql.us-east-1.on.aws",
                        "invalid UTF-8 host", PASSMINT_INVALID_ARGUMENT);
    expect_ctor_failure(passmint_provider_for_postgres_url, "provider_for_postgres_url",
                        "postgresql://\xc3\x28@srv.postgres.database.azure.com/db", "invalid UTF-8",
                        PASSMINT_INVALID_ARGUMENT);

    /* Bad URLs: configuration errors whose message says what to do. */
    static const char *const bad[][2] = {
        {"not a url", "no scheme"},
        {"ftp://example.com/x", "unknown scheme"},
        {"azure://?credential=bogus", "unknown credential"},
        {"azure://?nope=1", "unknown parameter"},
        {"azure://?credential=managed&credential=cli", "repeated parameter"},
        {"rds://db.example.com:5432?user=app", "rds without region"},
        {"rds://db.abc.eu-west-1.rds.amazonaws.com:5432", "rds without user"},
        {"dsql://abc", "bare dsql id without region"},
        {"dsql://abc.dsql.us-east-1.on.aws?expires_in=0", "dsql expires_in=0"},
        {"postgresql://app@db.example.com/app", "a postgres URL"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        expect_ctor_failure(passmint_provider_new, "provider_new", bad[i][0], bad[i][1], PASSMINT_INVALID_CONFIG);
    }
    static const char *const bad_pg[][2] = {
        {"postgresql://app@db.example.com/app", "unknown host"},
        {"not a url", "not a URL"},
        {"dsql://abc.dsql.us-east-1.on.aws", "a provider URL"},
    };
    for (size_t i = 0; i < sizeof bad_pg / sizeof *bad_pg; i++) {
        expect_ctor_failure(passmint_provider_for_postgres_url, "provider_for_postgres_url", bad_pg[i][0],
                            bad_pg[i][1], PASSMINT_INVALID_CONFIG);
    }

    /* NULL arguments to the token calls (a real provider; none of these reach the network). */
    passmint_provider *p = NULL;
    if (!check(passmint_provider_new(good, &p, NULL) == PASSMINT_OK, "provider for the NULL checks")) return;
    passmint_token *t = SENTINEL(passmint_token);
    passmint_error *e = NULL;
    passmint_status st = passmint_token_get(NULL, &t, &e);
    check(st == PASSMINT_INVALID_ARGUMENT && t == NULL, "token_get(provider=NULL) -> INVALID_ARGUMENT, *out NULL");
    check_error(e, PASSMINT_INVALID_ARGUMENT, "token_get(provider=NULL)", NULL);
    t = SENTINEL(passmint_token);
    check(passmint_token_get(NULL, &t, NULL) == PASSMINT_INVALID_ARGUMENT && t == NULL,
          "token_get(provider=NULL, err=NULL) -> INVALID_ARGUMENT");
    e = NULL;
    check(passmint_token_get(p, NULL, &e) == PASSMINT_INVALID_ARGUMENT, "token_get(out=NULL) -> INVALID_ARGUMENT");
    check_error(e, PASSMINT_INVALID_ARGUMENT, "token_get(out=NULL)", NULL);
    check(passmint_token_get(p, NULL, NULL) == PASSMINT_INVALID_ARGUMENT,
          "token_get(out=NULL, err=NULL) -> INVALID_ARGUMENT");
    check(passmint_token_get(NULL, NULL, NULL) == PASSMINT_INVALID_ARGUMENT, "token_get(all NULL) -> INVALID_ARGUMENT");

    async_ctx *c = async_ctx_new();
    check(passmint_token_get_async(NULL, on_token, c) == PASSMINT_INVALID_ARGUMENT,
          "token_get_async(provider=NULL) -> INVALID_ARGUMENT");
    check(passmint_token_get_async(p, NULL, c) == PASSMINT_INVALID_ARGUMENT,
          "token_get_async(cb=NULL) -> INVALID_ARGUMENT");
    check(passmint_token_get_async(NULL, NULL, NULL) == PASSMINT_INVALID_ARGUMENT,
          "token_get_async(all NULL) -> INVALID_ARGUMENT");
    sleep_ms(300);
    pthread_mutex_lock(&c->mu);
    int calls = c->calls;
    pthread_mutex_unlock(&c->mu);
    check(calls == 0, "a refused async call never calls back");
    async_ctx_free(c);

    /* Rotation: NULL arguments; an IAM provider is never told to retry. */
    e = NULL;
    check(passmint_provider_invalidate(NULL, &e) == PASSMINT_INVALID_ARGUMENT, "invalidate(provider=NULL) -> INVALID_ARGUMENT");
    check_error(e, PASSMINT_INVALID_ARGUMENT, "invalidate(provider=NULL)", NULL);
    check(passmint_provider_invalidate(p, NULL) == PASSMINT_OK, "invalidate of a cold provider is OK");
    int retry = 7;
    check(passmint_provider_password_refused(NULL, "pw", &retry, NULL) == PASSMINT_INVALID_ARGUMENT,
          "password_refused(provider=NULL) -> INVALID_ARGUMENT");
    check(passmint_provider_password_refused(p, NULL, &retry, NULL) == PASSMINT_INVALID_ARGUMENT,
          "password_refused(password=NULL) -> INVALID_ARGUMENT");
    check(passmint_provider_password_refused(p, "pw", NULL, NULL) == PASSMINT_INVALID_ARGUMENT,
          "password_refused(out_retry=NULL) -> INVALID_ARGUMENT");
    check(passmint_provider_password_refused(p, "pw", &retry, NULL) == PASSMINT_OK && retry == 0,
          "password_refused on an IAM provider: no retry (%d)", retry);

    /* Status: NULL arguments, and a provider that has fetched nothing yet. */
    char *json = SENTINEL(char);
    e = NULL;
    st = passmint_provider_status_json(NULL, &json, &e);
    check(st == PASSMINT_INVALID_ARGUMENT && json == NULL, "status_json(provider=NULL) -> INVALID_ARGUMENT, *out NULL");
    check_error(e, PASSMINT_INVALID_ARGUMENT, "status_json(provider=NULL)", NULL);
    check(passmint_provider_status_json(p, NULL, NULL) == PASSMINT_INVALID_ARGUMENT,
          "status_json(out=NULL) -> INVALID_ARGUMENT");
    json = NULL;
    st = passmint_provider_status_json(p, &json, NULL);
    check(st == PASSMINT_OK && json && strstr(json, "\"cached\":false") && strstr(json, "\"consecutive_failures\":0"),
          "status_json of a cold provider: %s", show(json));
    passmint_string_free(json);
    passmint_string_free(NULL);
    check(1, "string_free(NULL) is a no-op");

    check(passmint_token_secret(NULL) == NULL, "token_secret(NULL) is NULL");
    check(passmint_token_expires_at(NULL) == 0, "token_expires_at(NULL) is 0");
    check(passmint_token_username(NULL) == NULL, "token_username(NULL) is NULL");
    check(passmint_token_provider(NULL) == NULL, "token_provider(NULL) is NULL");
    passmint_token_free(NULL);
    check(1, "token_free(NULL) is a no-op");
    check(passmint_error_status(NULL) == PASSMINT_INVALID_ARGUMENT, "error_status(NULL) is INVALID_ARGUMENT");
    check(passmint_error_message(NULL) == NULL, "error_message(NULL) is NULL");
    passmint_error_free(NULL);
    check(1, "error_free(NULL) is a no-op");
    passmint_provider_free(NULL);
    check(1, "provider_free(NULL) is a no-op");
    passmint_provider_free(p);
}

/* --- token: blocking and async --------------------------------------------------------- */

static passmint_status make_provider(const char *flag, const char *url, passmint_provider **out, passmint_error **e) {
    return flag ? passmint_provider_for_postgres_url(url, out, e) : passmint_provider_new(url, out, e);
}

static void report(const char *label, const char *secret, const char *provider, const char *username,
                   int64_t expires_at) {
    char p[128], u[512];
    json_str(p, sizeof p, provider);
    json_str(u, sizeof u, username);
    note("token {\"label\":\"%s\",\"provider\":%s,\"username\":%s,\"expires_at\":%lld,\"len\":%zu,"
         "\"fnv\":\"%016llx\"}",
         label, p, u, (long long)expires_at, secret ? strlen(secret) : 0,
         (unsigned long long)(secret ? fnv1a(secret) : 0));
}

static void check_fields(const char *what, const char *secret, const char *provider, const char *username,
                         int64_t expires_at, const char *want_provider, const char *want_user) {
    check(secret != NULL && strlen(secret) >= 20, "%s: secret is a token (%zu bytes)", what,
          secret ? strlen(secret) : 0);
    check(streq(provider, want_provider), "%s: provider is %s (got %s)", what, want_provider, show(provider));
    if (want_user)
        check(streq(username, want_user), "%s: username is %s (got %s)", what, want_user, show(username));
    else
        check(username == NULL, "%s: username unknown (NULL; got %s)", what, show(username));
    int64_t now = (int64_t)time(NULL);
    check(expires_at > now + 30 && expires_at < now + 8 * 86400, "%s: expires_at is in the future (%lld s left)", what,
          (long long)(expires_at - now));
}

static void check_async_ok(async_ctx *c, int calls, const char *what) {
    check(calls == 1, "%s: callback called exactly once (%d)", what, calls);
    if (calls < 1) return;
    check(!c->on_caller_thread, "%s: callback ran on a passmint thread, not the caller's", what);
    check(c->status == PASSMINT_OK, "%s: status OK (got %s%s%s)", what, passmint_status_name(c->status),
          c->message ? ": " : "", c->message ? c->message : "");
    check(c->had_token && !c->had_error, "%s: token set, error NULL", what);
}

static void token(const char *flag, const char *url, const char *want_provider, const char *want_user) {
    passmint_provider *p = NULL, *p2 = NULL;
    passmint_error *e = NULL;
    passmint_status st = make_provider(flag, url, &p, &e);
    if (!check(st == PASSMINT_OK, "provider from %s", url)) {
        check_error(e, st, "provider", NULL);
        return;
    }

    /* Blocking, cold: one fetch. */
    passmint_token *t = NULL;
    double started = now_s();
    st = passmint_token_get(p, &t, &e);
    note("blocking cold get took %.3f s", now_s() - started);
    if (!check(st == PASSMINT_OK && t != NULL && e == NULL, "blocking token_get -> OK (%s)", passmint_status_name(st))) {
        if (e) note("message: %s", show(passmint_error_message(e)));
        passmint_error_free(e);
        passmint_provider_free(p);
        return;
    }
    char *first = strdup(passmint_token_secret(t));
    long long first_expiry = (long long)passmint_token_expires_at(t);
    check_fields("blocking", passmint_token_secret(t), passmint_token_provider(t), passmint_token_username(t),
                 passmint_token_expires_at(t), want_provider, want_user);
    report("blocking", passmint_token_secret(t), passmint_token_provider(t), passmint_token_username(t),
           passmint_token_expires_at(t));
    const char *secret_ptr = passmint_token_secret(t);
    check(secret_ptr == passmint_token_secret(t), "token_secret is stable for the token's lifetime");
    passmint_token_free(t);

    /* Blocking, warm: the cached token. */
    t = NULL;
    st = passmint_token_get(p, &t, NULL);
    check(st == PASSMINT_OK && streq(passmint_token_secret(t), first), "second blocking get is the cached token");
    passmint_token_free(t);

    /* Status of the warm provider: cached, its expiry, the credential, never the token. */
    char *json = NULL;
    st = passmint_provider_status_json(p, &json, NULL);
    char want_expiry[64];
    snprintf(want_expiry, sizeof want_expiry, "\"expires_at\":%lld", first_expiry);
    check(st == PASSMINT_OK && json && strstr(json, "\"cached\":true") && strstr(json, want_expiry) &&
              strstr(json, "\"credential\":\"") && !strstr(json, first),
          "status_json after a token: %s", show(json));
    passmint_string_free(json);

    /* Async on the warm provider: the same token, on a passmint thread. */
    async_ctx *c = async_ctx_new();
    st = passmint_token_get_async(p, on_token, c);
    check(st == PASSMINT_OK, "token_get_async (warm) accepted (%s)", passmint_status_name(st));
    int calls = st == PASSMINT_OK ? async_wait(c, ASYNC_WAIT_S) : 0;
    check_async_ok(c, calls, "async warm");
    if (calls == 1) {
        check(streq(c->secret, first), "async warm: the cached token");
        async_ctx_free(c);
    }

    /* Async on a cold provider: a fetch of its own. */
    st = make_provider(flag, url, &p2, NULL);
    check(st == PASSMINT_OK, "second provider");
    c = async_ctx_new();
    started = now_s();
    st = passmint_token_get_async(p2, on_token, c);
    check(st == PASSMINT_OK, "token_get_async (cold) accepted (%s)", passmint_status_name(st));
    calls = st == PASSMINT_OK ? async_wait(c, ASYNC_WAIT_S) : 0;
    note("async cold get took %.3f s (including a 0.15 s wait for a second call)", now_s() - started);
    check_async_ok(c, calls, "async cold");
    if (calls == 1) {
        check_fields("async cold", c->secret, c->provider, c->username, c->expires_at, want_provider, want_user);
        report("async-cold", c->secret, c->provider, c->username, c->expires_at);
        async_ctx_free(c);
    }

    /* user_data is the caller's: NULL is passed through as it is. */
    atomic_store(&null_ud_calls, 0);
    st = passmint_token_get_async(p2, on_token_null_ud, NULL);
    check(st == PASSMINT_OK, "token_get_async with user_data=NULL accepted (%s)", passmint_status_name(st));
    for (int i = 0; i < ASYNC_WAIT_S * 100 && atomic_load(&null_ud_calls) == 0; i++) sleep_ms(10);
    sleep_ms(SECOND_CALL_GRACE_MS);
    check(atomic_load(&null_ud_calls) == 1 && atomic_load(&null_ud_status) == PASSMINT_OK,
          "user_data=NULL: called once with NULL and OK");

    /* Many async calls at once on one provider: each called back exactly once. */
    enum { N = 16 };
    async_ctx *many[N];
    int accepted = 0;
    for (int i = 0; i < N; i++) {
        many[i] = async_ctx_new();
        accepted += passmint_token_get_async(p, on_token, many[i]) == PASSMINT_OK;
    }
    for (int i = 0; i < N; i++) async_wait_first(many[i], ASYNC_WAIT_S);
    sleep_ms(SECOND_CALL_GRACE_MS);
    int once = 0, same = 0;
    for (int i = 0; i < N; i++) {
        int n = async_calls(many[i]);
        once += n == 1;
        same += n == 1 && streq(many[i]->secret, first);
        if (n == 1) async_ctx_free(many[i]);
    }
    check(accepted == N && once == N && same == N, "%d concurrent async calls: each called back once, cached token (%d/%d/%d)",
          N, accepted, once, same);

    free(first);
    passmint_provider_free(p);
    passmint_provider_free(p2);
}

/* --- stress: many threads, one provider ------------------------------------------------ */

typedef struct {
    passmint_provider *p;
    pthread_barrier_t *barrier;
    long calls;
    long ok;
    long same;
    long failures_reported;
    uint64_t first_fnv;
    passmint_status first_bad;
} stress_arg;

static void *stress_thread(void *arg) {
    stress_arg *a = arg;
    char *first = NULL;
    pthread_barrier_wait(a->barrier);
    for (long i = 0; i < a->calls; i++) {
        passmint_token *t = NULL;
        passmint_error *e = NULL;
        passmint_status st = passmint_token_get(a->p, &t, &e);
        if (st == PASSMINT_OK && t != NULL && e == NULL) {
            a->ok++;
            const char *s = passmint_token_secret(t);
            if (!first) {
                first = strdup(s);
                a->first_fnv = fnv1a(s);
            }
            a->same += streq(s, first);
        } else if (a->first_bad == PASSMINT_OK) {
            a->first_bad = st;
            note("stress: call %ld failed: %s: %s", i, passmint_status_name(st), show(passmint_error_message(e)));
        }
        passmint_token_free(t);
        passmint_error_free(e);
    }
    free(first);
    return NULL;
}

static void stress(const char *url, int threads, long calls) {
    passmint_provider *p = NULL;
    if (!check(passmint_provider_new(url, &p, NULL) == PASSMINT_OK, "stress provider")) return;
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, (unsigned)threads);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    stress_arg *args = calloc((size_t)threads, sizeof *args);
    if (!tids || !args) abort();
    double started = now_s();
    for (int i = 0; i < threads; i++) {
        args[i] = (stress_arg){.p = p, .barrier = &barrier, .calls = calls};
        if (pthread_create(&tids[i], NULL, stress_thread, &args[i]) != 0) abort();
    }
    long ok = 0, same = 0;
    int one_token = 1;
    for (int i = 0; i < threads; i++) {
        pthread_join(tids[i], NULL);
        ok += args[i].ok;
        same += args[i].same;
        one_token &= args[i].first_fnv == args[0].first_fnv;
    }
    double elapsed = now_s() - started;
    long total = (long)threads * calls;
    note("stress: %d threads x %ld calls in %.3f s wall (cold start included)", threads, calls, elapsed);
    check(ok == total, "stress: %ld/%ld calls OK", ok, total);
    check(same == total, "stress: every call in a thread got that thread's first token (%ld/%ld)", same, total);
    check(one_token, "stress: every thread got the same token");
    note("stress {\"threads\":%d,\"calls\":%ld,\"ok\":%ld,\"seconds\":%.3f,\"fnv\":\"%016llx\"}", threads, calls, ok,
         elapsed, (unsigned long long)args[0].first_fnv);
    pthread_barrier_destroy(&barrier);
    free(tids);
    free(args);
    passmint_provider_free(p);
}

/* --- error: the blocking and the async path fail the same way ---------------------------- */

static int status_by_name(const char *name, passmint_status *out) {
    for (int i = 0; i < 10; i++) {
        if (streq(passmint_status_name(i), name)) {
            *out = (passmint_status)i;
            return 1;
        }
    }
    return 0;
}

static void error_case(const char *url, const char *want_name) {
    passmint_status want = PASSMINT_OK;
    if (!check(status_by_name(want_name, &want), "%s is a status name", want_name)) return;
    const char *forbidden = getenv("FFI_TEST_FORBIDDEN");
    passmint_provider *p1 = NULL, *p2 = NULL;
    if (!check(passmint_provider_new(url, &p1, NULL) == PASSMINT_OK &&
                   passmint_provider_new(url, &p2, NULL) == PASSMINT_OK,
               "two providers from %s", url))
        return;

    /* The async call first, so both wait out a hung endpoint at the same time. */
    async_ctx *c = async_ctx_new();
    double started = now_s();
    passmint_status ast = passmint_token_get_async(p2, on_token, c);
    check(ast == PASSMINT_OK, "token_get_async accepted (failure comes through the callback)");

    passmint_token *t = SENTINEL(passmint_token);
    passmint_error *e = NULL;
    passmint_status st = passmint_token_get(p1, &t, &e);
    double blocking = now_s() - started;
    check(st == want, "blocking: %s (got %s)", want_name, passmint_status_name(st));
    check(t == NULL, "blocking: *out set to NULL on failure");
    check_error(e, want, "blocking", forbidden);
    note("elapsed {\"blocking\":%.3f}", blocking);

    int calls = ast == PASSMINT_OK ? async_wait(c, ASYNC_WAIT_S) : 0;
    check(calls == 1, "async: callback called exactly once (%d)", calls);
    if (calls == 1) {
        check(!c->on_caller_thread, "async: callback on a passmint thread");
        check(c->status == want, "async: status %s (got %s)", want_name, passmint_status_name(c->status));
        check(!c->had_token && c->had_error, "async: token NULL, error set");
        check(c->error_status == want, "async: error status %s", want_name);
        check(c->message && c->message[0] && message_is_clean(c->message, forbidden),
              "async: message is not empty and holds no secret");
        note("message (async): %s", show(c->message));
        async_ctx_free(c);
    }
    passmint_provider_free(p1);
    passmint_provider_free(p2);
}

/* --- free-inflight: the provider goes away while async calls run ---------------------------- */

static void free_inflight(const char *url, int n) {
    passmint_provider *p = NULL;
    if (!check(passmint_provider_new(url, &p, NULL) == PASSMINT_OK, "provider")) return;
    async_ctx **cs = calloc((size_t)n, sizeof *cs);
    if (!cs) abort();
    int accepted = 0;
    for (int i = 0; i < n; i++) {
        cs[i] = async_ctx_new();
        accepted += passmint_token_get_async(p, on_token, cs[i]) == PASSMINT_OK;
    }
    check(accepted == n, "%d async calls accepted", n);
    passmint_provider_free(p); /* while the identity endpoint is still answering */
    check(1, "provider freed with %d calls in flight", n);
    for (int i = 0; i < n; i++) async_wait_first(cs[i], ASYNC_WAIT_S);
    sleep_ms(SECOND_CALL_GRACE_MS);
    int once = 0, ok = 0, failed_cleanly = 0;
    for (int i = 0; i < n; i++) {
        int calls = async_calls(cs[i]);
        once += calls == 1;
        if (calls != 1) continue;
        if (cs[i]->status == PASSMINT_OK && cs[i]->had_token && cs[i]->secret && !cs[i]->had_error)
            ok++;
        else if (cs[i]->status != PASSMINT_OK && cs[i]->status != PASSMINT_PANIC &&
                 cs[i]->status != PASSMINT_INTERNAL && cs[i]->had_error && !cs[i]->had_token)
            failed_cleanly++;
        else
            note("call %d: status %s, token %d, error %d", i, passmint_status_name(cs[i]->status), cs[i]->had_token,
                 cs[i]->had_error);
        async_ctx_free(cs[i]);
    }
    check(once == n, "every call called back exactly once (%d/%d)", once, n);
    /* The call keeps what it needs (passmint.h): freeing the provider does not cancel it. */
    check(ok == n, "each still got its token (%d tokens, %d clean errors)", ok, failed_cleanly);
    note("free-inflight {\"ok\":%d,\"errors\":%d}", ok, failed_cleanly);
    free(cs);
}

/* --- abuse: huge input, and callbacks that call back into passmint ------------------ */

typedef struct {
    passmint_provider *p;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int outer_done, inner_done;
    passmint_status outer, nested_blocking, inner;
    int same_secret;
} reentry_ctx;

static void on_inner(void *user_data, passmint_status status, passmint_token *token, passmint_error *error) {
    reentry_ctx *c = user_data;
    pthread_mutex_lock(&c->mu);
    c->inner = status;
    c->inner_done = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    passmint_token_free(token);
    passmint_error_free(error);
}

/* Runs on one of passmint's threads, and calls passmint from there: a blocking get (the cache
 * is warm now) and a nested async get. Neither may deadlock. */
static void on_outer(void *user_data, passmint_status status, passmint_token *token, passmint_error *error) {
    reentry_ctx *c = user_data;
    passmint_token *again = NULL;
    passmint_error *e = NULL;
    passmint_status nested = passmint_token_get(c->p, &again, &e);
    int same = token && again && streq(passmint_token_secret(token), passmint_token_secret(again));
    passmint_token_free(again);
    passmint_error_free(e);
    passmint_status queued = passmint_token_get_async(c->p, on_inner, c);
    pthread_mutex_lock(&c->mu);
    c->outer = status;
    c->nested_blocking = nested;
    c->same_secret = same;
    c->outer_done = 1;
    if (queued != PASSMINT_OK) {
        c->inner = queued;
        c->inner_done = 1;
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    passmint_token_free(token);
    passmint_error_free(error);
}

static void abuse(const char *url) {
    /* A 1 MB provider URL: refused as configuration, not a crash or a hang. */
    size_t n = 1 << 20;
    char *huge = malloc(n + 1);
    memcpy(huge, "dsql://", 7);
    memset(huge + 7, 'a', n - 7);
    huge[n] = '\0';
    passmint_provider *p = SENTINEL(passmint_provider);
    passmint_error *e = NULL;
    passmint_status st = passmint_provider_new(huge, &p, &e);
    check(st == PASSMINT_INVALID_CONFIG && p == NULL, "1 MB URL: %s", passmint_status_name(st));
    check_error(e, PASSMINT_INVALID_CONFIG, "1 MB URL", NULL); /* frees e */
    st = passmint_provider_for_postgres_url(huge, &p, NULL);
    check(st == PASSMINT_INVALID_CONFIG && p == NULL, "1 MB postgres URL: %s", passmint_status_name(st));
    free(huge);

    /* Callbacks that call back into passmint. */
    reentry_ctx c = {0};
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    st = passmint_provider_new(url, &c.p, NULL);
    check(st == PASSMINT_OK, "provider for re-entry: %s", passmint_status_name(st));
    if (st != PASSMINT_OK) return;
    check(passmint_token_get_async(c.p, on_outer, &c) == PASSMINT_OK, "outer async call queued");
    pthread_mutex_lock(&c.mu);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 15;
    while (!(c.outer_done && c.inner_done)) {
        if (pthread_cond_timedwait(&c.cv, &c.mu, &until) != 0) break;
    }
    int done = c.outer_done && c.inner_done;
    pthread_mutex_unlock(&c.mu);
    check(done, "the outer and the nested callbacks both ran (no deadlock)");
    check(c.outer == PASSMINT_OK && c.nested_blocking == PASSMINT_OK && c.inner == PASSMINT_OK,
          "outer %s, blocking get inside the callback %s, nested async %s", passmint_status_name(c.outer),
          passmint_status_name(c.nested_blocking), passmint_status_name(c.inner));
    check(c.same_secret, "the blocking get inside the callback was the cached token");
    passmint_provider_free(c.p);
    pthread_mutex_destroy(&c.mu);
    pthread_cond_destroy(&c.cv);
}

/* --- fork: a child forked at any instant of a parent's first fetch ----------------------- */

#define DEADLINE_S 10
/* Exit codes of a fork child, worst last. */
enum { CHILD_OK = 0, CHILD_ERROR = 1, CHILD_SLOW = 2, CHILD_CALLBACK = 3, CHILD_HUNG = 4 };

static void *first_fetch(void *arg) {
    passmint_token *t = NULL;
    passmint_token_get(arg, &t, NULL);
    passmint_token_free(t);
    return NULL;
}

/* In the child: the inherited provider (whose fetch was in flight in the parent), blocking
 * then async, then a provider made in the child. Returns an exit code. */
static int fork_child(passmint_provider *inherited, const char *url) {
    /* A hang is what this looks for: `reap` reports one (with its stacks) at 3 deadlines; the
     * alarm is the backstop should the reaper itself be gone. */
    alarm(4 * DEADLINE_S);
    int code = CHILD_OK;
    double t0 = now_s();
    passmint_token *t = NULL;
    passmint_status st = passmint_token_get(inherited, &t, NULL);
    double took = now_s() - t0;
    passmint_token_free(t);
    if (took > DEADLINE_S + 1) return CHILD_SLOW;
    if (st != PASSMINT_OK) code = CHILD_ERROR;

    async_ctx *c = async_ctx_new();
    t0 = now_s();
    if (passmint_token_get_async(inherited, on_token, c) != PASSMINT_OK) return CHILD_CALLBACK;
    async_wait_first(c, DEADLINE_S + 2);
    took = now_s() - t0;
    sleep_ms(20); /* a second call would come now */
    int calls = async_calls(c);
    if (calls != 1) return CHILD_CALLBACK;
    if (took > DEADLINE_S + 1) return CHILD_SLOW;
    if (c->status != PASSMINT_OK) code = CHILD_ERROR;

    passmint_provider *fresh = NULL;
    if (passmint_provider_new(url, &fresh, NULL) != PASSMINT_OK) return CHILD_ERROR;
    t0 = now_s();
    st = passmint_token_get(fresh, &t, NULL);
    took = now_s() - t0;
    passmint_token_free(t);
    passmint_provider_free(fresh);
    if (took > DEADLINE_S + 1) return CHILD_SLOW;
    return st == PASSMINT_OK ? code : CHILD_ERROR;
}

/* Prints every thread's stack of a hung process to stderr, when gdb is there: a hang seen once
 * in a CI log must say where it was. */
static void dump_stacks(pid_t kid) {
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "command -v gdb >/dev/null && gdb -q -batch -p %d -ex 'set print frame-arguments none' -ex 'thread apply all bt 14' 1>&2 2>/dev/null",
             (int)kid);
    fprintf(stderr, "# stacks of hung child %d\n", (int)kid);
    fflush(stderr);
    if (system(cmd) != 0) fprintf(stderr, "# (no gdb, or it could not attach)\n");
}

/* Reaps `kid` (born at `born`), killing it 3 deadlines after birth. Returns its exit code,
 * CHILD_HUNG if it had to be killed or died of a signal. */
static int reap(pid_t kid, double born) {
    int status = 0;
    for (;;) {
        pid_t r = waitpid(kid, &status, WNOHANG);
        if (r == kid) {
            if (!WIFEXITED(status)) {
                fprintf(stderr, "# child %d died of signal %d\n", (int)kid, WTERMSIG(status));
                return CHILD_HUNG;
            }
            int code = WEXITSTATUS(status);
            return code >= CHILD_OK && code <= CHILD_HUNG ? code : CHILD_HUNG;
        }
        if (r < 0) return CHILD_HUNG;
        if (now_s() - born > 3 * DEADLINE_S) {
            dump_stacks(kid);
            kill(kid, SIGKILL);
            waitpid(kid, &status, 0);
            return CHILD_HUNG;
        }
        sleep_ms(2);
    }
}

/* A process in which passmint has never run: a thread starts the first fetch (runtime start,
 * TLS roots, the SDK's statics, the request) and this forks `delay_us` into it. Returns the
 * child's outcome. */
static int fork_round(const char *url, long delay_us) {
    passmint_provider *p = NULL;
    if (passmint_provider_new(url, &p, NULL) != PASSMINT_OK) return CHILD_ERROR;
    pthread_t fetcher;
    pthread_create(&fetcher, NULL, first_fetch, p);
    struct timespec ts = {delay_us / 1000000L, (delay_us % 1000000L) * 1000L};
    nanosleep(&ts, NULL);
    pid_t kid = fork();
    if (kid == 0) _exit(fork_child(p, url));
    double born = now_s();
    int code = kid < 0 ? CHILD_ERROR : reap(kid, born);
    pthread_join(fetcher, NULL);
    passmint_provider_free(p);
    return code;
}

static void fork_stress(const char *url, int forks, int window_ms) {
    /* This process never uses passmint: each round runs in a fresh child of it. */
    enum { PARALLEL = 8 };
    pid_t running[PARALLEL] = {0};
    double born[PARALLEL] = {0};
    int outcome[CHILD_HUNG + 1] = {0};
    double started = now_s();
    fflush(stdout);
    for (int i = 0, done = 0; done < forks;) {
        int slot = -1;
        for (int k = 0; k < PARALLEL && slot < 0; k++) {
            if (running[k] == 0 && i < forks) slot = k;
        }
        if (slot >= 0) {
            /* Spread the forks over the first fetch: 0..window, in steps no round repeats. */
            long us = window_ms > 0 ? ((long)i * 7919L) % ((long)window_ms * 1000L) : 0;
            pid_t round = fork();
            if (round == 0) _exit(fork_round(url, us));
            running[slot] = round;
            born[slot] = now_s();
            i++;
            continue;
        }
        for (int k = 0; k < PARALLEL; k++) {
            if (running[k] == 0) continue;
            int status = 0;
            pid_t r = waitpid(running[k], &status, WNOHANG);
            if (r == 0 && now_s() - born[k] < 6 * DEADLINE_S + 10) continue;
            if (r == 0) {
                dump_stacks(running[k]);
                kill(running[k], SIGKILL);
                waitpid(running[k], &status, 0);
            }
            if (r > 0 && WIFSIGNALED(status))
                fprintf(stderr, "# round %d died of signal %d\n", (int)running[k], WTERMSIG(status));
            int code = r > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : CHILD_HUNG;
            outcome[code >= CHILD_OK && code <= CHILD_HUNG ? code : CHILD_HUNG]++;
            running[k] = 0;
            done++;
        }
        sleep_ms(1);
    }
    note("fork {\"forks\": %d, \"ok\": %d, \"error\": %d, \"slow\": %d, \"callback\": %d, \"hung\": %d, \"seconds\": %.1f}",
         forks, outcome[CHILD_OK], outcome[CHILD_ERROR], outcome[CHILD_SLOW], outcome[CHILD_CALLBACK],
         outcome[CHILD_HUNG], now_s() - started);
    check(outcome[CHILD_HUNG] == 0, "no child hung (%d did)", outcome[CHILD_HUNG]);
    check(outcome[CHILD_SLOW] == 0, "no child's get outlived the deadline (%d did)", outcome[CHILD_SLOW]);
    check(outcome[CHILD_CALLBACK] == 0, "every child's callback was called exactly once (%d not)", outcome[CHILD_CALLBACK]);
    check(outcome[CHILD_OK] == forks, "every child got its tokens (%d of %d)", outcome[CHILD_OK], forks);
}

/* --- a blocking get on a cold provider from inside a callback ------------------------------ */

typedef struct {
    const char *url;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    passmint_status outer, inner;
    double inner_s;
} cold_ctx;

static void on_cold_outer(void *user_data, passmint_status status, passmint_token *token, passmint_error *error) {
    cold_ctx *c = user_data;
    passmint_provider *cold = NULL;
    passmint_status inner = passmint_provider_new(c->url, &cold, NULL);
    double t0 = now_s();
    if (inner == PASSMINT_OK) {
        passmint_token *t = NULL;
        inner = passmint_token_get(cold, &t, NULL);
        passmint_token_free(t);
    }
    double took = now_s() - t0;
    passmint_provider_free(cold);
    pthread_mutex_lock(&c->mu);
    c->outer = status;
    c->inner = inner;
    c->inner_s = took;
    c->done = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    passmint_token_free(token);
    passmint_error_free(error);
}

static void cold_in_callback(const char *url) {
    cold_ctx c = {.url = url};
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    passmint_provider *p = NULL;
    if (!check(passmint_provider_new(url, &p, NULL) == PASSMINT_OK, "outer provider")) return;
    /* Twice: once while the runtime is new, once with every worker having run a fetch. */
    for (int round = 0; round < 2; round++) {
        c.done = 0;
        check(passmint_token_get_async(p, on_cold_outer, &c) == PASSMINT_OK, "round %d: async call queued", round);
        pthread_mutex_lock(&c.mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 3 * DEADLINE_S;
        while (!c.done) {
            if (pthread_cond_timedwait(&c.cv, &c.mu, &until) != 0) break;
        }
        int done = c.done;
        pthread_mutex_unlock(&c.mu);
        check(done, "round %d: the callback finished", round);
        check(c.outer == PASSMINT_OK && c.inner == PASSMINT_OK,
              "round %d: outer %s, blocking get of a cold provider inside the callback %s", round,
              passmint_status_name(c.outer), passmint_status_name(c.inner));
        note("cold-in-callback {\"round\": %d, \"seconds\": %.3f}", round, c.inner_s);
        check(c.inner_s < 2.0, "round %d: it took %.3f s (a fetch, not a stall until the deadline)", round, c.inner_s);
    }
    passmint_provider_free(p);
    pthread_mutex_destroy(&c.mu);
    pthread_cond_destroy(&c.cv);
}

/* --- soak: libpassmint alone, for minutes ------------------------------------------------ */

typedef struct {
    passmint_provider *p;
    const char *url;
    atomic_int *stop;
    atomic_long *gets, *short_lived, *failed, *providers;
} soak_arg;

static double wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long count_dir(const char *path) {
    DIR *d = opendir(path);
    if (!d) return -1;
    long n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1) break;
    fclose(f);
    return kib;
}

/* A token with under 30 s left must never be handed out (docs/DESIGN.md §2 rule 4). */
static void soak_judge(soak_arg *a, passmint_status st, passmint_token *t, passmint_error *e) {
    if (st == PASSMINT_OK) {
        double left = (double)passmint_token_expires_at(t) - wall_s();
        if (left < 29.9 && atomic_fetch_add(a->short_lived, 1) < 3) note("soak: a token with %.1f s left", left);
        atomic_fetch_add(a->gets, 1);
    } else {
        if (atomic_fetch_add(a->failed, 1) < 5)
            note("soak: %s: %s", passmint_status_name(st), show(passmint_error_message(e)));
    }
    passmint_token_free(t);
    passmint_error_free(e);
}

typedef struct {
    soak_arg *a;
    atomic_int pending;
} soak_async;

static void soak_cb(void *user_data, passmint_status st, passmint_token *t, passmint_error *e) {
    soak_async *c = user_data;
    soak_judge(c->a, st, t, e);
    atomic_fetch_sub(&c->pending, 1);
}

static void *soak_minter(void *arg) {
    soak_arg *a = arg;
    soak_async c = {.a = a};
    const struct timespec pause = {0, 100000}; /* 0.1 ms */
    while (!atomic_load(a->stop)) {
        passmint_token *t = NULL;
        passmint_error *e = NULL;
        passmint_status st = passmint_token_get(a->p, &t, &e); /* before t is read */
        soak_judge(a, st, t, e);
        atomic_fetch_add(&c.pending, 1);
        if (passmint_token_get_async(a->p, soak_cb, &c) != PASSMINT_OK) atomic_fetch_sub(&c.pending, 1);
        nanosleep(&pause, NULL);
    }
    while (atomic_load(&c.pending) > 0) nanosleep(&pause, NULL);
    return NULL;
}

static void *soak_churn(void *arg) {
    soak_arg *a = arg;
    const struct timespec pause = {0, 200000000}; /* 200 ms */
    while (!atomic_load(a->stop)) {
        passmint_provider *p = NULL;
        passmint_error *e = NULL;
        if (passmint_provider_new(a->url, &p, &e) == PASSMINT_OK) {
            passmint_token *t = NULL;
            passmint_status st = passmint_token_get(p, &t, &e);
            soak_judge(a, st, t, e);
            passmint_provider_free(p);
            atomic_fetch_add(a->providers, 1);
        } else {
            soak_judge(a, PASSMINT_INVALID_CONFIG, NULL, e);
        }
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static void soak(const char *url, int seconds, int threads) {
    passmint_provider *p = NULL;
    if (!check(passmint_provider_new(url, &p, NULL) == PASSMINT_OK, "soak provider")) return;
    atomic_int stop = 0;
    atomic_long gets = 0, short_lived = 0, failed = 0, providers = 0;
    soak_arg arg = {p, url, &stop, &gets, &short_lived, &failed, &providers};
    pthread_t *ts = calloc((size_t)threads + 1, sizeof *ts);
    for (int i = 0; i < threads; i++) pthread_create(&ts[i], NULL, soak_minter, &arg);
    pthread_create(&ts[threads], NULL, soak_churn, &arg);
    double start = now_s();
    for (;;) {
        double t = now_s() - start;
        printf("# sample {\"t\": %.1f, \"rss_kib\": %ld, \"fds\": %ld, \"threads\": %ld, \"gets\": %ld, "
               "\"providers\": %ld}\n",
               t, rss_kib(), count_dir("/proc/self/fd"), count_dir("/proc/self/task"), atomic_load(&gets),
               atomic_load(&providers));
        fflush(stdout);
        if (t >= seconds) break;
        struct timespec five = {5, 0};
        nanosleep(&five, NULL);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i <= threads; i++) pthread_join(ts[i], NULL);
    free(ts);
    passmint_provider_free(p);
    check(atomic_load(&failed) == 0, "soak: every get succeeded (%ld failed)", atomic_load(&failed));
    check(atomic_load(&short_lived) == 0, "soak: no token with under 30 s left (%ld)", atomic_load(&short_lived));
    check(atomic_load(&gets) > 0 && atomic_load(&providers) > 0, "soak: %ld gets, %ld providers",
          atomic_load(&gets), atomic_load(&providers));
}

/* --- main ---------------------------------------------------------------------------- */


/* ---- passmint_provider_from_callback ------------------------------------------------------ */

typedef struct {
    atomic_int calls;
    int mode; /* 0 inline token, 1 token from another thread, 2 error, 3 held, 4 bad UTF-8 */
    long delay_ms;
    passmint_completion *_Atomic held;
} source_ctx;

static void *complete_later(void *arg) {
    passmint_completion *c = arg;
    sleep_ms(50);
    passmint_completion_token(c, "c-callback-token-later", (int64_t)time(NULL) + 3600, NULL);
    return NULL;
}

static void c_source(void *user_data, passmint_completion *c) {
    source_ctx *ctx = user_data;
    atomic_fetch_add(&ctx->calls, 1);
    if (ctx->delay_ms) sleep_ms(ctx->delay_ms);
    switch (ctx->mode) {
    case 0:
        passmint_completion_token(c, "c-callback-token", (int64_t)time(NULL) + 3600, "app");
        break;
    case 1: {
        pthread_t t;
        pthread_create(&t, NULL, complete_later, c);
        pthread_detach(t);
        break;
    }
    case 2:
        passmint_completion_error(c, PASSMINT_AUTHENTICATION_FAILED, "the vault said no");
        break;
    case 3:
        atomic_store(&ctx->held, c); /* not completed until the test says: the deadline answers */
        break;
    default:
        passmint_completion_token(c, "bad\xff", (int64_t)time(NULL) + 3600, NULL);
        break;
    }
}

static void *get_one(void *arg) {
    passmint_token *t = NULL;
    passmint_status st = passmint_token_get(arg, &t, NULL);
    passmint_token_free(t);
    return (void *)(intptr_t)st;
}

/* 64 threads ask a cold provider at once; whether every one got a token. */
static int cold_callers_ok(passmint_provider *p) {
    pthread_t threads[64];
    for (int i = 0; i < 64; i++) pthread_create(&threads[i], NULL, get_one, p);
    int all_ok = 1;
    for (int i = 0; i < 64; i++) {
        void *st;
        pthread_join(threads[i], &st);
        all_ok &= (passmint_status)(intptr_t)st == PASSMINT_OK;
    }
    return all_ok;
}

static passmint_provider *source_provider(source_ctx *ctx) {
    passmint_provider *p = NULL;
    passmint_status st = passmint_provider_from_callback(c_source, ctx, &p, NULL);
    check(st == PASSMINT_OK && p, "provider_from_callback -> OK (%s)", passmint_status_name(st));
    return p;
}

static void callbacks(void) {
    passmint_error *e = NULL;
    passmint_provider *p = SENTINEL(passmint_provider);
    check(passmint_provider_from_callback(NULL, NULL, &p, &e) == PASSMINT_INVALID_ARGUMENT && p == NULL,
          "provider_from_callback(cb=NULL) -> INVALID_ARGUMENT");
    check_error(e, PASSMINT_INVALID_ARGUMENT, "provider_from_callback(cb=NULL)", NULL);
    check(passmint_completion_token(NULL, "t", 1, NULL) == PASSMINT_INVALID_ARGUMENT,
          "completion_token(NULL) -> INVALID_ARGUMENT");
    check(passmint_completion_error(NULL, 4, "x") == PASSMINT_INVALID_ARGUMENT,
          "completion_error(NULL) -> INVALID_ARGUMENT");

    /* Inline answer; 64 threads on a cold provider make one call. */
    source_ctx inline_ctx = {.mode = 0, .delay_ms = 200};
    p = source_provider(&inline_ctx);
    int all_ok = cold_callers_ok(p);
    check(all_ok && atomic_load(&inline_ctx.calls) == 1, "64 cold callers: all OK, one callback call (%d)",
          atomic_load(&inline_ctx.calls));
    passmint_token *t = NULL;
    check(passmint_token_get(p, &t, NULL) == PASSMINT_OK && streq(passmint_token_secret(t), "c-callback-token") &&
              streq(passmint_token_provider(t), "callback") && streq(passmint_token_username(t), "app"),
          "the callback's token, provider \"callback\", its username");
    passmint_token_free(t);
    char *json = NULL;
    passmint_provider_status_json(p, &json, NULL);
    check(json && strstr(json, "\"credential\":\"token callback (C)\""), "status names the callback: %s", show(json));
    passmint_string_free(json);
    passmint_provider_free(p);

    /* Completed later, from another thread. */
    source_ctx later = {.mode = 1};
    p = source_provider(&later);
    t = NULL;
    check(passmint_token_get(p, &t, NULL) == PASSMINT_OK && streq(passmint_token_secret(t), "c-callback-token-later"),
          "a completion from another thread");
    passmint_token_free(t);
    passmint_provider_free(p);

    /* An error: its kind and message reach the caller. */
    source_ctx refusing = {.mode = 2};
    p = source_provider(&refusing);
    e = NULL;
    passmint_status st = passmint_token_get(p, &t, &e);
    check(st == PASSMINT_AUTHENTICATION_FAILED && e && strstr(passmint_error_message(e), "the vault said no"),
          "completion_error's kind and message reach the caller (%s)", passmint_status_name(st));
    passmint_error_free(e);
    passmint_provider_free(p);

    /* A token that is not UTF-8: PROVIDER_RESPONSE for the callers. */
    source_ctx bad = {.mode = 4};
    p = source_provider(&bad);
    check(passmint_token_get(p, &t, NULL) == PASSMINT_PROVIDER_RESPONSE, "a non-UTF-8 token -> PROVIDER_RESPONSE");
    passmint_provider_free(p);

    /* Never completed: TIMEOUT by the deadline. */
    source_ctx never = {.mode = 3};
    p = source_provider(&never);
    double started = now_s();
    st = passmint_token_get(p, &t, NULL);
    double took = now_s() - started;
    check(st == PASSMINT_TIMEOUT && took < 11.5, "a callback that never completes -> TIMEOUT in %.1f s", took);
    passmint_completion *late = atomic_exchange(&never.held, NULL);
    check(late && passmint_completion_token(late, "too-late", (int64_t)time(NULL) + 3600, NULL) == PASSMINT_OK,
          "a completion after the deadline is accepted and ignored");
    passmint_provider_free(p);
}

/* ---- passmint_provider_with_aws_credentials ----------------------------------------------- */

#define AWS_URL "dsql://abc123example.dsql.us-east-1.on.aws?user=admin"

typedef struct {
    atomic_int calls;
    int mode; /* 0 keys inline, 1 error, 2 held, 3 empty secret */
    int64_t expires_at;
    passmint_aws_completion *_Atomic held;
} aws_ctx;

static void c_aws_source(void *user_data, passmint_aws_completion *c) {
    aws_ctx *ctx = user_data;
    atomic_fetch_add(&ctx->calls, 1);
    switch (ctx->mode) {
    case 0:
        sleep_ms(200); /* the cold callers all arrive while this is in flight */
        passmint_aws_completion_credentials(c, "AKIACSOURCE000000001", "cSourceSecret/abc+1", "c-session-token",
                                            ctx->expires_at);
        break;
    case 1:
        passmint_aws_completion_error(c, PASSMINT_CREDENTIAL_UNAVAILABLE, "the broker is down");
        break;
    case 2:
        atomic_store(&ctx->held, c);
        break;
    default:
        passmint_aws_completion_credentials(c, "AKIACSOURCE000000001", "", NULL, 0);
        break;
    }
}

static passmint_provider *aws_provider(aws_ctx *ctx) {
    passmint_provider *p = NULL;
    passmint_status st = passmint_provider_with_aws_credentials(AWS_URL, c_aws_source, ctx, &p, NULL);
    check(st == PASSMINT_OK && p, "provider_with_aws_credentials -> OK (%s)", passmint_status_name(st));
    return p;
}

static void aws_callbacks(void) {
    passmint_error *e = NULL;
    passmint_provider *p = SENTINEL(passmint_provider);
    check(passmint_provider_with_aws_credentials(NULL, c_aws_source, NULL, &p, &e) == PASSMINT_INVALID_ARGUMENT &&
              p == NULL,
          "provider_with_aws_credentials(url=NULL) -> INVALID_ARGUMENT");
    check_error(e, PASSMINT_INVALID_ARGUMENT, "provider_with_aws_credentials(url=NULL)", NULL);
    e = NULL;
    check(passmint_provider_with_aws_credentials(AWS_URL, NULL, NULL, &p, &e) == PASSMINT_INVALID_ARGUMENT,
          "provider_with_aws_credentials(cb=NULL) -> INVALID_ARGUMENT");
    check_error(e, PASSMINT_INVALID_ARGUMENT, "provider_with_aws_credentials(cb=NULL)", NULL);
    e = NULL;
    check(passmint_provider_with_aws_credentials("azure://?credential=managed", c_aws_source, NULL, &p, &e) ==
              PASSMINT_INVALID_ARGUMENT,
          "AWS credentials for an azure:// URL -> INVALID_ARGUMENT");
    check(e && strstr(passmint_error_message(e), "dsql, rds and awssm"), "the message says which kinds take them");
    passmint_error_free(e);
    check(passmint_aws_completion_credentials(NULL, "a", "b", NULL, 0) == PASSMINT_INVALID_ARGUMENT,
          "aws_completion_credentials(NULL) -> INVALID_ARGUMENT");
    check(passmint_aws_completion_error(NULL, 4, "x") == PASSMINT_INVALID_ARGUMENT,
          "aws_completion_error(NULL) -> INVALID_ARGUMENT");

    /* 64 cold callers: one credentials call; the token is signed with those keys, and their
     * expiry bounds it. */
    aws_ctx keys = {.mode = 0, .expires_at = (int64_t)time(NULL) + 400};
    p = aws_provider(&keys);
    int all_ok = cold_callers_ok(p);
    check(all_ok && atomic_load(&keys.calls) == 1, "64 cold callers: all OK, one credentials call (%d)",
          atomic_load(&keys.calls));
    passmint_token *t = NULL;
    check(passmint_token_get(p, &t, NULL) == PASSMINT_OK && streq(passmint_token_provider(t), "dsql") &&
              strstr(passmint_token_secret(t), "X-Amz-Credential=AKIACSOURCE000000001%2F") &&
              strstr(passmint_token_secret(t), "X-Amz-Security-Token=c-session-token") &&
              passmint_token_expires_at(t) <= keys.expires_at,
          "a dsql token signed with the callback's keys, bounded by their expiry");
    passmint_token_free(t);
    char *json = NULL;
    passmint_provider_status_json(p, &json, NULL);
    check(json && !strstr(json, "cSourceSecret"), "status never shows the secret key");
    passmint_string_free(json);
    passmint_provider_free(p);

    /* An error: its kind and message reach the caller. */
    aws_ctx refusing = {.mode = 1};
    p = aws_provider(&refusing);
    e = NULL;
    passmint_status st = passmint_token_get(p, &t, &e);
    check(st == PASSMINT_CREDENTIAL_UNAVAILABLE && e && strstr(passmint_error_message(e), "the broker is down"),
          "aws_completion_error's kind and message reach the caller (%s)", passmint_status_name(st));
    passmint_error_free(e);
    passmint_provider_free(p);

    /* An empty secret key: PROVIDER_RESPONSE. */
    aws_ctx empty = {.mode = 3};
    p = aws_provider(&empty);
    check(passmint_token_get(p, &t, NULL) == PASSMINT_PROVIDER_RESPONSE, "an empty secret key -> PROVIDER_RESPONSE");
    passmint_provider_free(p);

    /* Never completed: TIMEOUT by the deadline; a late completion is accepted and ignored. */
    aws_ctx never = {.mode = 2};
    p = aws_provider(&never);
    double started = now_s();
    st = passmint_token_get(p, &t, NULL);
    double took = now_s() - started;
    check(st == PASSMINT_TIMEOUT && took < 11.5, "a credentials callback that never completes -> TIMEOUT in %.1f s",
          took);
    passmint_aws_completion *late = atomic_exchange(&never.held, NULL);
    check(late && passmint_aws_completion_credentials(late, "AKIALATE", "late", NULL, 0) == PASSMINT_OK,
          "a completion after the deadline is accepted and ignored");
    passmint_provider_free(p);
}

static int usage(void) {
    fputs("usage: ffi_test api [version] | token [--for] URL PROVIDER USER|- | stress URL THREADS CALLS |\n"
          "       error URL STATUS | free-inflight URL CALLS | abuse URL | soak URL SECONDS THREADS |\n"
          "       fork URL FORKS WINDOW-MS | cold-in-callback URL | callback\n",
          stderr);
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage();
    const char *mode = argv[1];
    if (strcmp(mode, "api") == 0) {
        api(argc > 2 ? argv[2] : NULL);
    } else if (strcmp(mode, "token") == 0) {
        int has_for = argc > 2 && strcmp(argv[2], "--for") == 0;
        if (argc != 5 + has_for) return usage();
        const char *user = argv[4 + has_for];
        token(has_for ? "--for" : NULL, argv[2 + has_for], argv[3 + has_for], strcmp(user, "-") ? user : NULL);
    } else if (strcmp(mode, "stress") == 0 && argc == 5) {
        stress(argv[2], atoi(argv[3]), atol(argv[4]));
    } else if (strcmp(mode, "error") == 0 && argc == 4) {
        error_case(argv[2], argv[3]);
    } else if (strcmp(mode, "abuse") == 0 && argc == 3) {
        abuse(argv[2]);
    } else if (strcmp(mode, "free-inflight") == 0 && argc == 4) {
        free_inflight(argv[2], atoi(argv[3]));
    } else if (strcmp(mode, "fork") == 0 && argc == 5) {
        fork_stress(argv[2], atoi(argv[3]), atoi(argv[4]));
    } else if (strcmp(mode, "cold-in-callback") == 0 && argc == 3) {
        cold_in_callback(argv[2]);
    } else if (strcmp(mode, "callback") == 0 && argc == 2) {
        callbacks();
        aws_callbacks();
    } else if (strcmp(mode, "soak") == 0 && argc == 5) {
        soak(argv[2], atoi(argv[3]), atoi(argv[4]));
    } else {
        return usage();
    }
    return finish();
}

/*
 * ffi_bench: the cost of a warm-cache passmint_token_get + passmint_token_free from C.
 *
 *   ffi_bench URL [ITERATIONS [RUNS]]      (defaults: 1000000 iterations, 7 runs)
 *
 * One cold get fills the cache (one identity fetch), then RUNS timed loops of ITERATIONS
 * get+free pairs on one thread. Prints one JSON line: the median, min and max ns per pair
 * over the runs. DESIGN target: <= 200 ns per pair with a release build.
 */
#define _POSIX_C_SOURCE 200809L
#include <passmint.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs("usage: ffi_bench URL [ITERATIONS [RUNS]]\n", stderr);
        return 2;
    }
    long iterations = argc > 2 ? atol(argv[2]) : 1000000L;
    int runs = argc > 3 ? atoi(argv[3]) : 7;
    if (iterations <= 0 || runs <= 0 || runs > 1000) {
        fputs("ffi_bench: ITERATIONS and RUNS must be positive\n", stderr);
        return 2;
    }
    passmint_provider *p = NULL;
    passmint_error *e = NULL;
    passmint_token *t = NULL;
    if (passmint_provider_new(argv[1], &p, &e) != PASSMINT_OK || passmint_token_get(p, &t, &e) != PASSMINT_OK) {
        fprintf(stderr, "ffi_bench: %s: %s\n", passmint_status_name(passmint_error_status(e)),
                e ? passmint_error_message(e) : "(no message)");
        passmint_error_free(e);
        passmint_provider_free(p);
        return 1;
    }
    size_t secret_len = strlen(passmint_token_secret(t));
    passmint_token_free(t);

    double *per_op = calloc((size_t)runs, sizeof *per_op);
    if (!per_op) return 1;
    long failures = 0;
    for (int r = 0; r < runs; r++) {
        double start = now_ns();
        for (long i = 0; i < iterations; i++) {
            passmint_token *tok;
            if (passmint_token_get(p, &tok, NULL) != PASSMINT_OK) failures++;
            passmint_token_free(tok);
        }
        per_op[r] = (now_ns() - start) / (double)iterations;
    }
    qsort(per_op, (size_t)runs, sizeof *per_op, cmp_double);
    double median = runs % 2 ? per_op[runs / 2] : (per_op[runs / 2 - 1] + per_op[runs / 2]) / 2;
    printf("{\"bench\":\"passmint_token_get+passmint_token_free (warm cache)\",\"version\":\"%s\","
           "\"iterations\":%ld,\"runs\":%d,\"median_ns\":%.1f,\"min_ns\":%.1f,\"max_ns\":%.1f,"
           "\"secret_len\":%zu,\"failures\":%ld}\n",
           passmint_version(), iterations, runs, median, per_op[0], per_op[runs - 1], secret_len, failures);
    free(per_op);
    passmint_provider_free(p);
    return failures == 0 ? 0 : 1;
}

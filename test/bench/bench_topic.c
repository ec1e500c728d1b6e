/* bench_topic — how fast the routing structures are: ns per subscribe,
 * per PUBLISH match and per unsubscribe in nmq_topic_trie with 100k
 * subscriptions, and ns per store and per filter search in nmq_topic_index
 * with 100k retained topics.  Prints figures, asserts nothing about time.
 *
 * The table mimics a fleet: each device listens on its own command topic
 * (exact) and sometimes its config subtree ('+'), dashboards watch sites
 * ('+' in the middle, '#'), a few shared groups of workers take jobs, and a
 * handful of monitors hold "#"-like filters that every publish meets.
 *   build/bench/bench_topic [subscriptions]   (default 100000)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nmq_topic_index.h"
#include "nmq_topic_trie.h"

#define SITES 500

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t s_rng = 0x243F6A8885A308D3ull;

static uint32_t s_rand(uint32_t n)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (uint32_t)(s_rng % n);
}

typedef struct {
    char client[24];
    char filter[64];
} bench_sub_t;

/* Subscription i of the fleet: device d = i / 2 has a command topic and,
 * one time in four, a config subtree; a few dashboards, operators and
 * shared workers make up the rest. */
static void s_make_sub(bench_sub_t *b, int i)
{
    int dev = i / 2, kind = (int)s_rand(100);
    snprintf(b->client, sizeof b->client, "dev-%d", dev);
    if (i % 2 == 0 || kind < 70)
        snprintf(b->filter, sizeof b->filter, "site/%d/dev/%d/cmd", dev % SITES, i);
    else if (kind < 85)
        snprintf(b->filter, sizeof b->filter, "site/%d/dev/%d/config/+", dev % SITES, dev);
    else if (kind < 92) {
        snprintf(b->client, sizeof b->client, "dash-%d", i);
        snprintf(b->filter, sizeof b->filter, "site/%d/+/+/temp", (int)s_rand(SITES));
    } else if (kind < 95) {
        snprintf(b->client, sizeof b->client, "ops-%d", i);
        snprintf(b->filter, sizeof b->filter, "site/%d/#", (int)s_rand(SITES));
    } else {
        snprintf(b->client, sizeof b->client, "worker-%d", i);
        snprintf(b->filter, sizeof b->filter, "$share/g%d/jobs/%d/+", (int)s_rand(20), (int)s_rand(50));
    }
}

static const char *const TOPIC_KINDS[] = {
    "device command (exact)", "device config (+)", "telemetry (dashboards)", "job (shared)", "nobody's",
};

/* A PUBLISH topic of one kind, for a random device. */
static int s_make_topic(char *t, size_t cap, int kind, int n)
{
    int i = (int)s_rand((uint32_t)n) & ~1, dev = i / 2;
    switch (kind) {
    case 0:
        return snprintf(t, cap, "site/%d/dev/%d/cmd", dev % SITES, i);
    case 1:
        return snprintf(t, cap, "site/%d/dev/%d/config/interval", dev % SITES, dev);
    case 2:
        return snprintf(t, cap, "site/%d/dev/%d/temp", dev % SITES, dev);
    case 3:
        return snprintf(t, cap, "jobs/%d/%d", (int)s_rand(50), dev);
    default:
        return snprintf(t, cap, "unrelated/%d/topic/%d", dev, dev);
    }
}

static void s_report(const char *what, double ns, long ops)
{
    printf("%-46s %9.1f ns/op  (%ld ops)\n", what, ns / (double)ops, ops);
}

static void s_bench_trie(int n)
{
    bench_sub_t *subs = malloc((size_t)n * sizeof *subs);
    for (int i = 0; i < n; i++)
        s_make_sub(&subs[i], i);
    nmq_trie_t *t = nmq_trie_new();
    /* a few monitors that every publish meets */
    const char *monitors[] = { "#", "site/#", "+/+/dev/#" };
    for (int i = 0; i < 3; i++) {
        nmq_trie_entry_t e = { .client_id = "monitor", .client_id_len = 7, .opts.qos = 1 };
        nmq_trie_entry_set_filter(&e, monitors[i], strlen(monitors[i]));
        nmq_trie_add(t, &e);
    }
    double t0 = s_now();
    for (int i = 0; i < n; i++) {
        nmq_trie_entry_t e = { .client_id = subs[i].client, .client_id_len = strlen(subs[i].client),
                               .opts = { .qos = (uint8_t)(i % 3), .sub_id = (uint32_t)i % 7 } };
        nmq_trie_entry_set_filter(&e, subs[i].filter, strlen(subs[i].filter));
        nmq_trie_add(t, &e);
    }
    double t1 = s_now();
    printf("trie: %zu subscriptions, %zu clients, 3 of them on \"#\", \"site/#\", \"+/+/dev/#\"\n",
           nmq_trie_count(t), nmq_trie_clients(t));
    s_report("trie add (subscribe)", t1 - t0, n);

    /* random devices, so the walk meets cold cache lines as a broker would */
    enum { TOPICS = 1 << 16, MATCHES = 1000000 };
    static char topics[TOPICS][64];
    static size_t lens[TOPICS];
    nmq_trie_result_t res = { 0 };
    for (int kind = 0; kind < 5; kind++) {
        for (int i = 0; i < TOPICS; i++)
            lens[i] = (size_t)s_make_topic(topics[i], sizeof topics[i], kind, n);
        size_t delivered = 0;
        t0 = s_now();
        for (int i = 0; i < MATCHES; i++) {
            int k = i & (TOPICS - 1);
            delivered += nmq_trie_match(t, topics[k], lens[k], "dev-1", 5, &res);
        }
        t1 = s_now();
        char what[64];
        snprintf(what, sizeof what, "trie match: %s", TOPIC_KINDS[kind]);
        printf("%-46s %9.1f ns/op  (%.1f recipients + shares)\n", what, (t1 - t0) / MATCHES,
               (double)delivered / MATCHES);
    }
    /* the same walk with everything in cache: what the code costs */
    for (int i = 0; i < 64; i++)
        lens[i] = (size_t)s_make_topic(topics[i], sizeof topics[i], 0, n);
    t0 = s_now();
    for (int i = 0; i < MATCHES; i++)
        nmq_trie_match(t, topics[i & 63], lens[i & 63], "dev-1", 5, &res);
    t1 = s_now();
    s_report("trie match: device command, 64 hot topics", t1 - t0, MATCHES);

    t0 = s_now();
    for (int i = 0; i < n; i++) {
        nmq_trie_entry_t e = { .client_id = subs[i].client, .client_id_len = strlen(subs[i].client) };
        nmq_trie_entry_set_filter(&e, subs[i].filter, strlen(subs[i].filter));
        nmq_trie_remove(t, &e);
    }
    t1 = s_now();
    s_report("trie remove (unsubscribe)", t1 - t0, n);
    printf("trie: %zu subscriptions left\n", nmq_trie_count(t));
    nmq_trie_result_free(&res);
    nmq_trie_destroy(&t);
    free(subs);
}

static void s_bench_index(int n)
{
    nmq_tindex_t *x = nmq_tindex_new();
    char (*topics)[64] = malloc((size_t)n * sizeof *topics);
    for (int i = 0; i < n; i++)
        snprintf(topics[i], sizeof topics[i], "site/%d/dev/%d/state", i % SITES, i);
    double t0 = s_now();
    for (int i = 0; i < n; i++)
        nmq_tindex_put(x, topics[i], strlen(topics[i]), (void *)(uintptr_t)(i + 1));
    double t1 = s_now();
    printf("index: %zu retained topics\n", nmq_tindex_count(x));
    s_report("index put (retain)", t1 - t0, n);

    enum { LOOKUPS = 1000000, SEARCHES = 100000 };
    nmq_tindex_result_t res = { 0 };
    char f[64];
    t0 = s_now();
    for (int i = 0; i < LOOKUPS; i++) {
        int k = (int)s_rand((uint32_t)n);
        nmq_tindex_match_into(x, topics[k], strlen(topics[k]), &res);
    }
    t1 = s_now();
    s_report("index match (exact filter, 1 hit)", t1 - t0, LOOKUPS);
    size_t hits = 0;
    t0 = s_now();
    for (int i = 0; i < SEARCHES; i++) {
        int len = snprintf(f, sizeof f, "site/%d/dev/+/state", (int)s_rand(SITES));
        hits += nmq_tindex_match_into(x, f, (size_t)len, &res);
    }
    t1 = s_now();
    s_report("index match (site/N/dev/+/state)", t1 - t0, SEARCHES);
    printf("%-46s %9.1f ns/hit (%.0f hits per search)\n", "", (t1 - t0) / (double)hits,
           (double)hits / SEARCHES);
    t0 = s_now();
    hits = nmq_tindex_match_into(x, "#", 1, &res);
    t1 = s_now();
    printf("%-46s %9.1f ns/hit (%zu hits)\n", "index match (#)", (t1 - t0) / (double)hits, hits);
    t0 = s_now();
    for (int i = 0; i < n; i++)
        nmq_tindex_remove(x, topics[i], strlen(topics[i]));
    t1 = s_now();
    s_report("index remove", t1 - t0, n);
    nmq_tindex_result_free(&res);
    nmq_tindex_destroy(&x);
    free(topics);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 100000;
    if (n < 2) {
        fprintf(stderr, "usage: bench_topic [subscriptions >= 2]\n");
        return 2;
    }
    s_bench_trie(n);
    s_bench_index(n);
    return 0;
}

/* Unit tests: common/nmq_vclock.c — the version vectors under the replicated
 * metadata.  Plain cases for each call, the lattice laws of merge and the
 * consistency of compare over random vectors (fixed seed, bounded loops),
 * the hash's byte layout against a separate FNV-1a, the tie-break order of
 * a_wins, and the property the replicas rely on: two replicas that receive
 * the same two concurrent writes in opposite orders end in the same state. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nmq_vclock.h"

#define ROUNDS 2000

static const char *const NODES[] = { "n0", "n1", "n2", "n3", "n4", "n5", "alpha", "beta" };
#define NNODES (sizeof NODES / sizeof *NODES)

/* A random vector over a few of NODES with small counters, so that random
 * pairs are often equal, ordered or concurrent. */
static void s_random(nmq_vclock_t *vc)
{
    nmq_vclock_init(vc);
    for (size_t i = 0; i < NNODES; i++)
        if (random() % 2)
            nmq_vclock_set(vc, NODES[i], (uint64_t)(random() % 4));
}

static void s_assert_sorted_no_zero(const nmq_vclock_t *vc)
{
    for (size_t i = 0; i < vc->n; i++) {
        ck_assert_uint_ne(vc->dots[i].counter, 0);
        if (i)
            ck_assert_int_lt(strcmp(vc->dots[i - 1].node, vc->dots[i].node), 0);
    }
}

static void s_assert_same(const nmq_vclock_t *a, const nmq_vclock_t *b)
{
    ck_assert_int_eq(nmq_vclock_compare(a, b), NMQ_VC_EQUAL);
    ck_assert_uint_eq(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        ck_assert_str_eq(a->dots[i].node, b->dots[i].node);
        ck_assert_uint_eq(a->dots[i].counter, b->dots[i].counter);
    }
}

static const char *s_str(const nmq_vclock_t *vc)
{
    static char buf[256];
    return nmq_vclock_str(vc, buf, sizeof buf);
}

/* --- one vector ---------------------------------------------------------------- */

START_TEST(test_empty_vector)
{
    nmq_vclock_t a, b;
    nmq_vclock_init(&a);
    nmq_vclock_init(&b);
    ck_assert_uint_eq(nmq_vclock_get(&a, "n0"), 0);
    ck_assert_str_eq(s_str(&a), "");
    ck_assert_int_eq(nmq_vclock_compare(&a, &b), NMQ_VC_EQUAL);
    ck_assert(nmq_vclock_hash(&a, 0) == nmq_vclock_hash(&b, 0));
    nmq_vclock_merge(&a, &b);
    nmq_vclock_copy(&b, &a);
    ck_assert_uint_eq(a.n + b.n, 0);
    nmq_vclock_set(&a, "n0", 0);        /* removing what is absent */
    ck_assert_uint_eq(a.n, 0);
    nmq_vclock_fini(&a);
    nmq_vclock_fini(&a);                /* twice is harmless */
    nmq_vclock_bump(&a, "n0");          /* and it is reusable */
    ck_assert_str_eq(s_str(&a), "n0:1");
    nmq_vclock_fini(&a);
    nmq_vclock_fini(&b);
}
END_TEST

START_TEST(test_set_get_and_zero_removes)
{
    nmq_vclock_t a;
    nmq_vclock_init(&a);
    nmq_vclock_set(&a, "c", 7);
    nmq_vclock_set(&a, "a", 3);
    nmq_vclock_set(&a, "b", 1);
    ck_assert_str_eq(s_str(&a), "a:3,b:1,c:7");
    ck_assert_uint_eq(nmq_vclock_get(&a, "a"), 3);
    ck_assert_uint_eq(nmq_vclock_get(&a, "c"), 7);
    ck_assert_uint_eq(nmq_vclock_get(&a, "ab"), 0);     /* a prefix is another node */
    ck_assert_uint_eq(nmq_vclock_get(&a, ""), 0);
    nmq_vclock_set(&a, "a", 9);
    ck_assert_uint_eq(nmq_vclock_get(&a, "a"), 9);
    ck_assert_uint_eq(a.n, 3);
    nmq_vclock_set(&a, "b", 0);
    ck_assert_uint_eq(a.n, 2);
    ck_assert_uint_eq(nmq_vclock_get(&a, "b"), 0);
    ck_assert_str_eq(s_str(&a), "a:9,c:7");
    nmq_vclock_set(&a, "a", 0);
    nmq_vclock_set(&a, "c", 0);
    ck_assert_uint_eq(a.n, 0);
    ck_assert_str_eq(s_str(&a), "");
    nmq_vclock_fini(&a);
}
END_TEST

START_TEST(test_names_are_owned_copies)
{
    nmq_vclock_t a, b;
    nmq_vclock_init(&a);
    nmq_vclock_init(&b);
    char name[16];
    strcpy(name, "node-1");
    nmq_vclock_set(&a, name, 2);
    nmq_vclock_bump(&b, name);
    strcpy(name, "XXXXXX");
    ck_assert_uint_eq(nmq_vclock_get(&a, "node-1"), 2);
    ck_assert_uint_eq(nmq_vclock_get(&b, "node-1"), 1);
    ck_assert_ptr_ne(a.dots[0].node, name);
    nmq_vclock_fini(&a);
    nmq_vclock_fini(&b);
}
END_TEST

START_TEST(test_bump_increments_only_that_node)
{
    srandom(7);
    for (int r = 0; r < ROUNDS; r++) {
        nmq_vclock_t a, before;
        s_random(&a);
        nmq_vclock_init(&before);
        nmq_vclock_copy(&before, &a);
        const char *node = NODES[random() % NNODES];
        nmq_vclock_bump(&a, node);
        s_assert_sorted_no_zero(&a);
        for (size_t i = 0; i < NNODES; i++) {
            uint64_t want = nmq_vclock_get(&before, NODES[i]) + (strcmp(NODES[i], node) == 0);
            ck_assert_uint_eq(nmq_vclock_get(&a, NODES[i]), want);
        }
        ck_assert_int_eq(nmq_vclock_compare(&before, &a), NMQ_VC_BEFORE);
        ck_assert_int_eq(nmq_vclock_compare(&a, &before), NMQ_VC_AFTER);
        nmq_vclock_fini(&a);
        nmq_vclock_fini(&before);
    }
}
END_TEST

START_TEST(test_copy_replaces_and_is_deep)
{
    nmq_vclock_t a, b;
    nmq_vclock_init(&a);
    nmq_vclock_init(&b);
    nmq_vclock_set(&a, "x", 1);
    nmq_vclock_set(&a, "y", 2);
    nmq_vclock_set(&b, "old", 5);
    nmq_vclock_copy(&b, &a);
    ck_assert_str_eq(s_str(&b), "x:1,y:2");
    nmq_vclock_bump(&a, "x");
    nmq_vclock_set(&a, "y", 0);
    ck_assert_str_eq(s_str(&b), "x:1,y:2");
    nmq_vclock_copy(&b, &b);            /* onto itself: unchanged */
    ck_assert_str_eq(s_str(&b), "x:1,y:2");
    nmq_vclock_fini(&a);
    nmq_vclock_copy(&b, &a);            /* an empty source empties dst */
    ck_assert_uint_eq(b.n, 0);
    nmq_vclock_fini(&b);
}
END_TEST

START_TEST(test_str_formats_and_truncates)
{
    nmq_vclock_t a;
    nmq_vclock_init(&a);
    nmq_vclock_set(&a, "b", 1);
    nmq_vclock_set(&a, "a", 3);
    nmq_vclock_set(&a, "c", UINT64_MAX);
    char buf[64];
    ck_assert_ptr_eq(nmq_vclock_str(&a, buf, sizeof buf), buf);
    ck_assert_str_eq(buf, "a:3,b:1,c:18446744073709551615");
    char small[6];
    memset(small, '#', sizeof small);
    nmq_vclock_str(&a, small, sizeof small);
    ck_assert_str_eq(small, "a:3,b");
    memset(small, '#', sizeof small);
    nmq_vclock_str(&a, small, 1);
    ck_assert_str_eq(small, "");
    nmq_vclock_str(&a, small, 0);       /* no room: buf untouched */
    ck_assert_str_eq(small, "");
    nmq_vclock_fini(&a);
}
END_TEST

/* --- compare -------------------------------------------------------------------- */

/* Builds a vector from "node:counter,..." (test input only, well formed). */
static void s_parse(nmq_vclock_t *vc, const char *text)
{
    nmq_vclock_init(vc);
    char buf[256];
    strcpy(buf, text);
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');
        *colon = '\0';
        nmq_vclock_set(vc, tok, strtoull(colon + 1, NULL, 10));
    }
}

START_TEST(test_compare_four_outcomes)
{
    static const struct {
        const char *a, *b;
        nmq_vc_order_t want;
    } cases[] = {
        { "", "", NMQ_VC_EQUAL },
        { "", "a:1", NMQ_VC_BEFORE },
        { "a:1", "", NMQ_VC_AFTER },
        { "a:1,b:2", "b:2,a:1", NMQ_VC_EQUAL },
        { "a:1,b:2", "a:1,b:3", NMQ_VC_BEFORE },
        { "a:2,b:2", "a:1,b:2", NMQ_VC_AFTER },
        { "a:1", "a:1,b:1", NMQ_VC_BEFORE },        /* b's node set is a superset */
        { "a:1,b:1", "b:1", NMQ_VC_AFTER },
        { "a:1", "b:1", NMQ_VC_CONCURRENT },        /* disjoint node sets */
        { "a:5,c:1", "b:1,d:9", NMQ_VC_CONCURRENT },
        { "a:2,b:1", "a:1,b:2", NMQ_VC_CONCURRENT },
        { "a:2", "a:1,b:1", NMQ_VC_CONCURRENT },
        { "a:1,b:1,c:1", "a:1,c:2", NMQ_VC_CONCURRENT },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        nmq_vclock_t a, b;
        s_parse(&a, cases[i].a);
        s_parse(&b, cases[i].b);
        ck_assert_msg(nmq_vclock_compare(&a, &b) == cases[i].want, "case %zu: {%s} vs {%s}", i,
                      cases[i].a, cases[i].b);
        nmq_vclock_fini(&a);
        nmq_vclock_fini(&b);
    }
}
END_TEST

/* The slow definition: per node over the union of NODES. */
static nmq_vc_order_t s_model_compare(const nmq_vclock_t *a, const nmq_vclock_t *b)
{
    int a_ahead = 0, b_ahead = 0;
    for (size_t i = 0; i < NNODES; i++) {
        uint64_t x = nmq_vclock_get(a, NODES[i]), y = nmq_vclock_get(b, NODES[i]);
        a_ahead |= x > y;
        b_ahead |= y > x;
    }
    return a_ahead && b_ahead ? NMQ_VC_CONCURRENT
         : a_ahead            ? NMQ_VC_AFTER
         : b_ahead            ? NMQ_VC_BEFORE
                              : NMQ_VC_EQUAL;
}

START_TEST(test_compare_random_against_model)
{
    static const nmq_vc_order_t flip[] = {
        [NMQ_VC_EQUAL] = NMQ_VC_EQUAL, [NMQ_VC_BEFORE] = NMQ_VC_AFTER,
        [NMQ_VC_AFTER] = NMQ_VC_BEFORE, [NMQ_VC_CONCURRENT] = NMQ_VC_CONCURRENT,
    };
    int seen[4] = { 0 };
    srandom(11);
    for (int r = 0; r < ROUNDS; r++) {
        nmq_vclock_t a, b;
        s_random(&a);
        s_random(&b);
        nmq_vc_order_t o = nmq_vclock_compare(&a, &b);
        ck_assert_int_eq(o, s_model_compare(&a, &b));
        ck_assert_int_eq(nmq_vclock_compare(&b, &a), flip[o]);
        ck_assert_int_eq(nmq_vclock_compare(&a, &a), NMQ_VC_EQUAL);
        seen[o]++;
        nmq_vclock_fini(&a);
        nmq_vclock_fini(&b);
    }
    for (int o = 0; o < 4; o++)     /* the generator reaches every outcome */
        ck_assert_int_gt(seen[o], 0);
}
END_TEST

/* --- merge ---------------------------------------------------------------------- */

static void s_merged(nmq_vclock_t *out, const nmq_vclock_t *a, const nmq_vclock_t *b)
{
    nmq_vclock_init(out);
    nmq_vclock_copy(out, a);
    nmq_vclock_merge(out, b);
}

START_TEST(test_merge_is_pointwise_max)
{
    nmq_vclock_t a, b;
    s_parse(&a, "a:1,c:5");
    s_parse(&b, "b:2,c:3,d:1");
    nmq_vclock_merge(&a, &b);
    ck_assert_str_eq(s_str(&a), "a:1,b:2,c:5,d:1");
    ck_assert_str_eq(s_str(&b), "b:2,c:3,d:1");     /* src untouched */
    nmq_vclock_fini(&b);
    nmq_vclock_merge(&a, &b);                       /* empty src */
    ck_assert_str_eq(s_str(&a), "a:1,b:2,c:5,d:1");
    nmq_vclock_merge(&b, &a);                       /* empty dst */
    ck_assert_str_eq(s_str(&b), "a:1,b:2,c:5,d:1");
    nmq_vclock_merge(&a, &a);                       /* with itself */
    ck_assert_str_eq(s_str(&a), "a:1,b:2,c:5,d:1");
    nmq_vclock_fini(&a);
    nmq_vclock_fini(&b);
}
END_TEST

START_TEST(test_merge_laws_on_random_vectors)
{
    srandom(23);
    for (int r = 0; r < ROUNDS; r++) {
        nmq_vclock_t a, b, c, ab, ba, ab_c, bc, a_bc, aa;
        s_random(&a);
        s_random(&b);
        s_random(&c);
        /* commutative */
        s_merged(&ab, &a, &b);
        s_merged(&ba, &b, &a);
        s_assert_sorted_no_zero(&ab);
        s_assert_same(&ab, &ba);
        /* associative */
        s_merged(&ab_c, &ab, &c);
        s_merged(&bc, &b, &c);
        s_merged(&a_bc, &a, &bc);
        s_assert_same(&ab_c, &a_bc);
        /* idempotent */
        s_merged(&aa, &a, &a);
        s_assert_same(&aa, &a);
        /* the least upper bound: dominates both, and each node from one side */
        ck_assert_int_ne(nmq_vclock_compare(&a, &ab), NMQ_VC_AFTER);
        ck_assert_int_ne(nmq_vclock_compare(&a, &ab), NMQ_VC_CONCURRENT);
        ck_assert_int_ne(nmq_vclock_compare(&b, &ab), NMQ_VC_AFTER);
        ck_assert_int_ne(nmq_vclock_compare(&b, &ab), NMQ_VC_CONCURRENT);
        for (size_t i = 0; i < NNODES; i++) {
            uint64_t x = nmq_vclock_get(&a, NODES[i]), y = nmq_vclock_get(&b, NODES[i]);
            ck_assert_uint_eq(nmq_vclock_get(&ab, NODES[i]), x > y ? x : y);
        }
        nmq_vclock_t *all[] = { &a, &b, &c, &ab, &ba, &ab_c, &bc, &a_bc, &aa };
        for (size_t i = 0; i < sizeof all / sizeof *all; i++)
            nmq_vclock_fini(all[i]);
    }
}
END_TEST

/* --- hash ------------------------------------------------------------------------ */

static uint64_t s_fnv(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

START_TEST(test_hash_byte_layout)
{
    const uint64_t basis = 14695981039346656037ull;
    nmq_vclock_t a;
    nmq_vclock_init(&a);
    ck_assert(nmq_vclock_hash(&a, 0) == basis);
    ck_assert(nmq_vclock_hash(&a, 99) == (basis ^ 99));
    nmq_vclock_set(&a, "b", 0x0102);
    nmq_vclock_set(&a, "a", 3);
    static const uint8_t bytes[] = {
        'a', 0, 3, 0, 0, 0, 0, 0, 0, 0,
        'b', 0, 0x02, 0x01, 0, 0, 0, 0, 0, 0,
    };
    ck_assert(nmq_vclock_hash(&a, 0) == s_fnv(basis, bytes, sizeof bytes));
    ck_assert(nmq_vclock_hash(&a, 5) == s_fnv(basis ^ 5, bytes, sizeof bytes));
    nmq_vclock_fini(&a);
}
END_TEST

START_TEST(test_hash_ignores_insertion_order)
{
    srandom(31);
    for (int r = 0; r < ROUNDS; r++) {
        uint64_t counters[NNODES];
        for (size_t i = 0; i < NNODES; i++)
            counters[i] = (uint64_t)(random() % 3);
        /* two shuffled insertion orders */
        size_t order[NNODES];
        nmq_vclock_t v[2];
        for (int k = 0; k < 2; k++) {
            for (size_t i = 0; i < NNODES; i++)
                order[i] = i;
            for (size_t i = NNODES - 1; i > 0; i--) {
                size_t j = (size_t)random() % (i + 1), t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            nmq_vclock_init(&v[k]);
            for (size_t i = 0; i < NNODES; i++)
                nmq_vclock_set(&v[k], NODES[order[i]], counters[order[i]]);
        }
        ck_assert(nmq_vclock_hash(&v[0], 0) == nmq_vclock_hash(&v[1], 0));
        ck_assert(nmq_vclock_hash(&v[0], 77) == nmq_vclock_hash(&v[1], 77));
        /* one counter changed (or a node added or removed): another hash */
        size_t i = (size_t)random() % NNODES;
        nmq_vclock_set(&v[1], NODES[i], counters[i] + 1 + (uint64_t)(random() % 3));
        ck_assert(nmq_vclock_hash(&v[0], 0) != nmq_vclock_hash(&v[1], 0));
        nmq_vclock_set(&v[1], NODES[i], counters[i]);
        ck_assert(nmq_vclock_hash(&v[0], 0) == nmq_vclock_hash(&v[1], 0));
        nmq_vclock_fini(&v[0]);
        nmq_vclock_fini(&v[1]);
    }
}
END_TEST

START_TEST(test_hash_separates_names_from_counters)
{
    /* "ab":1 and "a":... must not share bytes: the 0 separator and fixed
     * counter width keep the layout unambiguous */
    nmq_vclock_t a, b;
    s_parse(&a, "ab:1");
    s_parse(&b, "a:1,b:1");
    ck_assert(nmq_vclock_hash(&a, 0) != nmq_vclock_hash(&b, 0));
    nmq_vclock_fini(&a);
    nmq_vclock_fini(&b);
}
END_TEST

/* --- a_wins ------------------------------------------------------------------------ */

START_TEST(test_a_wins_order_of_tiers)
{
    nmq_vclock_t x, y;
    s_parse(&x, "n1:1");
    s_parse(&y, "n2:1");
    bool x_hash_greater = nmq_vclock_hash(&x, 0) > nmq_vclock_hash(&y, 0);
    ck_assert(nmq_vclock_hash(&x, 0) != nmq_vclock_hash(&y, 0));
    /* later time wins, whatever the writer and hash */
    ck_assert(nmq_vclock_a_wins(&x, 101, "a", &y, 100, "z"));
    ck_assert(!nmq_vclock_a_wins(&x, 100, "z", &y, 101, "a"));
    ck_assert(nmq_vclock_a_wins(&y, 101, "a", &x, 100, "z"));
    /* same time: the greater writer name */
    ck_assert(nmq_vclock_a_wins(&x, 100, "n2", &y, 100, "n1"));
    ck_assert(!nmq_vclock_a_wins(&x, 100, "n1", &y, 100, "n2"));
    ck_assert(nmq_vclock_a_wins(&x, 100, "nb", &y, 100, "n"));  /* a prefix sorts first */
    /* same time and writer: the greater hash */
    ck_assert(nmq_vclock_a_wins(&x, 100, "w", &y, 100, "w") == x_hash_greater);
    ck_assert(nmq_vclock_a_wins(&y, 100, "w", &x, 100, "w") == !x_hash_greater);
    /* the same write twice: neither wins */
    ck_assert(!nmq_vclock_a_wins(&x, 100, "w", &x, 100, "w"));
    nmq_vclock_t x2;
    s_parse(&x2, "n1:1");
    ck_assert(!nmq_vclock_a_wins(&x, 100, "w", &x2, 100, "w"));
    nmq_vclock_fini(&x);
    nmq_vclock_fini(&x2);
    nmq_vclock_fini(&y);
}
END_TEST

START_TEST(test_a_wins_is_antisymmetric)
{
    static const char *const writers[] = { "n0", "n1", "n2" };
    srandom(43);
    int distinct = 0;
    for (int r = 0; r < ROUNDS * 5; r++) {
        /* small domains so that every tier gets used */
        nmq_vclock_t a, b;
        s_random(&a);
        s_random(&b);
        uint64_t ta = 1000 + (uint64_t)(random() % 3), tb = 1000 + (uint64_t)(random() % 3);
        const char *wa = writers[random() % 3], *wb = writers[random() % 3];
        bool ab = nmq_vclock_a_wins(&a, ta, wa, &b, tb, wb);
        bool ba = nmq_vclock_a_wins(&b, tb, wb, &a, ta, wa);
        bool same = ta == tb && !strcmp(wa, wb) && nmq_vclock_compare(&a, &b) == NMQ_VC_EQUAL;
        if (same) {
            ck_assert(!ab && !ba);
        } else {
            ck_assert_msg(ab != ba, "round %d: {%s}@%llu/%s", r, s_str(&a), (unsigned long long)ta, wa);
            distinct++;
        }
        nmq_vclock_fini(&a);
        nmq_vclock_fini(&b);
    }
    ck_assert_int_gt(distinct, ROUNDS);
}
END_TEST

/* --- convergence ---------------------------------------------------------------------- */

/* A write as it travels, and a replica's copy of one replicated key: the
 * vector it has seen with the time and writer of the write that holds the
 * value. */
typedef struct {
    nmq_vclock_t vc;
    uint64_t time_ms;
    const char *writer;
} write_t, replica_t;

/* What a replica does with an incoming write: a newer one replaces, an older
 * or equal one is dropped, a concurrent one is resolved by a_wins and the
 * vectors merged (the merged vector records that both were seen). */
static void s_apply(replica_t *r, const write_t *w)
{
    switch (nmq_vclock_compare(&w->vc, &r->vc)) {
    case NMQ_VC_AFTER:
        nmq_vclock_copy(&r->vc, &w->vc);
        r->time_ms = w->time_ms;
        r->writer = w->writer;
        break;
    case NMQ_VC_CONCURRENT:
        if (nmq_vclock_a_wins(&w->vc, w->time_ms, w->writer, &r->vc, r->time_ms, r->writer)) {
            r->time_ms = w->time_ms;
            r->writer = w->writer;
        }
        nmq_vclock_merge(&r->vc, &w->vc);
        break;
    case NMQ_VC_EQUAL:
    case NMQ_VC_BEFORE:
        break;
    }
}

START_TEST(test_replicas_converge_on_concurrent_writes)
{
    srandom(59);
    for (int r = 0; r < ROUNDS; r++) {
        /* a common history, then one write at each of two nodes */
        nmq_vclock_t base;
        s_random(&base);
        size_t i = (size_t)random() % NNODES, j = (i + 1 + (size_t)random() % (NNODES - 1)) % NNODES;
        write_t w[2] = { { .writer = NODES[i] }, { .writer = NODES[j] } };
        for (int k = 0; k < 2; k++) {
            nmq_vclock_init(&w[k].vc);
            nmq_vclock_copy(&w[k].vc, &base);
            nmq_vclock_bump(&w[k].vc, w[k].writer);
            w[k].time_ms = 5000 + (uint64_t)(random() % 3);     /* ties are common */
        }
        ck_assert_int_eq(nmq_vclock_compare(&w[0].vc, &w[1].vc), NMQ_VC_CONCURRENT);
        /* both replicas start from the base, applied as a write of its own */
        replica_t rep[2];
        for (int k = 0; k < 2; k++) {
            nmq_vclock_init(&rep[k].vc);
            nmq_vclock_copy(&rep[k].vc, &base);
            rep[k].time_ms = 1000;
            rep[k].writer = "origin";
        }
        s_apply(&rep[0], &w[0]);
        s_apply(&rep[0], &w[1]);
        s_apply(&rep[1], &w[1]);
        s_apply(&rep[1], &w[0]);
        /* same winner, same merged vector */
        ck_assert_str_eq(rep[0].writer, rep[1].writer);
        ck_assert_uint_eq(rep[0].time_ms, rep[1].time_ms);
        s_assert_same(&rep[0].vc, &rep[1].vc);
        /* and the winner is the one a_wins names */
        bool first = nmq_vclock_a_wins(&w[0].vc, w[0].time_ms, w[0].writer,
                                       &w[1].vc, w[1].time_ms, w[1].writer);
        ck_assert_str_eq(rep[0].writer, w[first ? 0 : 1].writer);
        /* the merged vector dominates both writes: replaying either is a no-op */
        nmq_vclock_t both;
        s_merged(&both, &w[0].vc, &w[1].vc);
        s_assert_same(&rep[0].vc, &both);
        s_apply(&rep[0], &w[0]);
        s_apply(&rep[0], &w[1]);
        ck_assert_str_eq(rep[0].writer, rep[1].writer);
        s_assert_same(&rep[0].vc, &both);
        nmq_vclock_fini(&both);
        for (int k = 0; k < 2; k++) {
            nmq_vclock_fini(&w[k].vc);
            nmq_vclock_fini(&rep[k].vc);
        }
        nmq_vclock_fini(&base);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vclock");
    TCase *tc = tcase_create("vclock");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_empty_vector);
    tcase_add_test(tc, test_set_get_and_zero_removes);
    tcase_add_test(tc, test_names_are_owned_copies);
    tcase_add_test(tc, test_bump_increments_only_that_node);
    tcase_add_test(tc, test_copy_replaces_and_is_deep);
    tcase_add_test(tc, test_str_formats_and_truncates);
    tcase_add_test(tc, test_compare_four_outcomes);
    tcase_add_test(tc, test_compare_random_against_model);
    tcase_add_test(tc, test_merge_is_pointwise_max);
    tcase_add_test(tc, test_merge_laws_on_random_vectors);
    tcase_add_test(tc, test_hash_byte_layout);
    tcase_add_test(tc, test_hash_ignores_insertion_order);
    tcase_add_test(tc, test_hash_separates_names_from_counters);
    tcase_add_test(tc, test_a_wins_order_of_tiers);
    tcase_add_test(tc, test_a_wins_is_antisymmetric);
    tcase_add_test(tc, test_replicas_converge_on_concurrent_writes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

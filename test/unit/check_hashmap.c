/* Unit tests: common/nmq_hashmap.c — the byte-string map under the routing
 * tables.  Besides the plain cases, a randomized run against a slow array
 * model exercises growth, shrinking and backward-shift deletion in tables
 * kept near full load. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nmq_hashmap.h"

#define V(n) ((void *)(uintptr_t)(n))

START_TEST(test_empty_map_answers_absent)
{
    nmq_hashmap_t *m = nmq_hashmap_new(0);
    ck_assert_ptr_null(nmq_hashmap_get(m, "a", 1));
    ck_assert_ptr_null(nmq_hashmap_remove(m, "a", 1));
    ck_assert_uint_eq(nmq_hashmap_size(m), 0);
    size_t c = 0;
    void *v;
    ck_assert(!nmq_hashmap_next(m, &c, NULL, NULL, &v));
    nmq_hashmap_destroy(&m);
    ck_assert_ptr_null(m);
    nmq_hashmap_destroy(&m);    /* twice is harmless */
}
END_TEST

START_TEST(test_put_get_replace_remove)
{
    nmq_hashmap_t *m = nmq_hashmap_new(0);
    ck_assert_ptr_null(nmq_hashmap_put(m, "alpha", 5, V(1)));
    ck_assert_ptr_null(nmq_hashmap_put(m, "beta", 4, V(2)));
    ck_assert_ptr_eq(nmq_hashmap_get(m, "alpha", 5), V(1));
    ck_assert_ptr_eq(nmq_hashmap_put(m, "alpha", 5, V(3)), V(1));
    ck_assert_ptr_eq(nmq_hashmap_get(m, "alpha", 5), V(3));
    ck_assert_uint_eq(nmq_hashmap_size(m), 2);
    /* a prefix is another key */
    ck_assert_ptr_null(nmq_hashmap_get(m, "alph", 4));
    ck_assert_ptr_null(nmq_hashmap_get(m, "alphabet", 8));
    ck_assert_ptr_eq(nmq_hashmap_remove(m, "alpha", 5), V(3));
    ck_assert_ptr_null(nmq_hashmap_remove(m, "alpha", 5));
    ck_assert_ptr_null(nmq_hashmap_get(m, "alpha", 5));
    ck_assert_ptr_eq(nmq_hashmap_get(m, "beta", 4), V(2));
    ck_assert_uint_eq(nmq_hashmap_size(m), 1);
    nmq_hashmap_destroy(&m);
}
END_TEST

START_TEST(test_keys_are_bytes_empty_and_nul_included)
{
    nmq_hashmap_t *m = nmq_hashmap_new(0);
    nmq_hashmap_put(m, "", 0, V(1));
    nmq_hashmap_put(m, "a\0b", 3, V(2));
    nmq_hashmap_put(m, "a\0c", 3, V(3));
    nmq_hashmap_put(m, "a", 1, V(4));
    ck_assert_ptr_eq(nmq_hashmap_get(m, "", 0), V(1));
    ck_assert_ptr_eq(nmq_hashmap_get(m, "a\0b", 3), V(2));
    ck_assert_ptr_eq(nmq_hashmap_get(m, "a\0c", 3), V(3));
    ck_assert_ptr_eq(nmq_hashmap_get(m, "a", 1), V(4));
    ck_assert_uint_eq(nmq_hashmap_size(m), 4);
    nmq_hashmap_destroy(&m);
}
END_TEST

START_TEST(test_copied_keys_outlive_the_callers_buffer)
{
    nmq_hashmap_t *m = nmq_hashmap_new(0);
    char buf[16];
    strcpy(buf, "client-1");
    nmq_hashmap_put(m, buf, strlen(buf), V(1));
    strcpy(buf, "XXXXXXXX");
    ck_assert_ptr_eq(nmq_hashmap_get(m, "client-1", 8), V(1));
    size_t c = 0, len;
    const void *key;
    void *v;
    ck_assert(nmq_hashmap_next(m, &c, &key, &len, &v));
    ck_assert_uint_eq(len, 8);
    ck_assert_str_eq(key, "client-1");     /* copies are NUL-terminated */
    nmq_hashmap_destroy(&m);
}
END_TEST

START_TEST(test_borrowed_keys_point_at_the_callers_bytes)
{
    nmq_hashmap_t *m = nmq_hashmap_new(NMQ_HASHMAP_BORROW_KEYS);
    static const char key[] = "kept";
    nmq_hashmap_put(m, key, 4, V(1));
    size_t c = 0, len;
    const void *k;
    void *v;
    ck_assert(nmq_hashmap_next(m, &c, &k, &len, &v));
    ck_assert_ptr_eq(k, key);
    ck_assert_ptr_eq(nmq_hashmap_remove(m, "kept", 4), V(1));
    nmq_hashmap_destroy(&m);
}
END_TEST

START_TEST(test_grow_iterate_and_shrink)
{
    enum { N = 20000 };
    nmq_hashmap_t *m = nmq_hashmap_new(0);
    char k[32];
    for (int i = 0; i < N; i++) {
        int n = snprintf(k, sizeof k, "key/%d", i);
        ck_assert_ptr_null(nmq_hashmap_put(m, k, (size_t)n, V(i + 1)));
    }
    ck_assert_uint_eq(nmq_hashmap_size(m), N);
    char *seen = calloc(N, 1);
    size_t c = 0, len, visits = 0;
    const void *key;
    void *v;
    while (nmq_hashmap_next(m, &c, &key, &len, &v)) {
        int i = (int)(uintptr_t)v - 1;
        ck_assert_int_ge(i, 0);
        ck_assert_int_lt(i, N);
        ck_assert(!seen[i]);
        seen[i] = 1;
        int n = snprintf(k, sizeof k, "key/%d", i);
        ck_assert_uint_eq(len, (size_t)n);
        ck_assert(!memcmp(key, k, len));
        visits++;
    }
    ck_assert_uint_eq(visits, N);
    for (int i = 0; i < N; i++) {
        int n = snprintf(k, sizeof k, "key/%d", i);
        ck_assert_ptr_eq(nmq_hashmap_remove(m, k, (size_t)n), V(i + 1));
        if (i % 997 == 0)   /* the rest still there while the table shrinks */
            for (int j = i + 1; j < N; j += 101) {
                n = snprintf(k, sizeof k, "key/%d", j);
                ck_assert_ptr_eq(nmq_hashmap_get(m, k, (size_t)n), V(j + 1));
            }
    }
    ck_assert_uint_eq(nmq_hashmap_size(m), 0);
    ck_assert_ptr_null(nmq_hashmap_put(m, "again", 5, V(1)));
    free(seen);
    nmq_hashmap_destroy(&m);
}
END_TEST

/* Slow model: value of key i is model[i] (0 = absent). */
START_TEST(test_randomized_against_a_model)
{
    enum { KEYS = 3000, OPS = 300000 };
    static uintptr_t model[KEYS];
    memset(model, 0, sizeof model);
    nmq_hashmap_t *m = nmq_hashmap_new(0);
    size_t live = 0;
    srandom(42);
    char k[32];
    for (int op = 0; op < OPS; op++) {
        int i = (int)(random() % KEYS);
        /* phases shift the balance so the table fills up and drains */
        int put_bias = (op / 50000) % 2 ? 30 : 70;
        int n = snprintf(k, sizeof k, "%x.%d", (unsigned)i * 2654435761u, i);
        if (random() % 100 < put_bias) {
            uintptr_t v = (uintptr_t)op + 1;
            ck_assert_ptr_eq(nmq_hashmap_put(m, k, (size_t)n, (void *)v), model[i] ? (void *)model[i] : NULL);
            live += !model[i];
            model[i] = v;
        } else {
            ck_assert_ptr_eq(nmq_hashmap_remove(m, k, (size_t)n), model[i] ? (void *)model[i] : NULL);
            live -= !!model[i];
            model[i] = 0;
        }
        ck_assert_uint_eq(nmq_hashmap_size(m), live);
        if (op % 10000 == 0)
            for (int j = 0; j < KEYS; j++) {
                n = snprintf(k, sizeof k, "%x.%d", (unsigned)j * 2654435761u, j);
                ck_assert_ptr_eq(nmq_hashmap_get(m, k, (size_t)n), model[j] ? (void *)model[j] : NULL);
            }
    }
    nmq_hashmap_destroy(&m);
}
END_TEST

static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

START_TEST(test_hash_spreads_and_ignores_alignment)
{
    enum { N = 200000 };
    uint64_t *h = malloc(N * sizeof *h);
    char k[32];
    for (int i = 0; i < N; i++) {
        int n = snprintf(k, sizeof k, "sensor/%d", i);
        h[i] = nmq_hash(k, (size_t)n);
    }
    /* no two equal 64-bit hashes, and the low bits (the slot) spread out */
    int buckets[256] = { 0 };
    for (int i = 0; i < N; i++)
        buckets[h[i] & 255]++;
    for (int b = 0; b < 256; b++) {
        ck_assert_int_gt(buckets[b], N / 256 / 2);
        ck_assert_int_lt(buckets[b], N / 256 * 2);
    }
    qsort(h, N, sizeof *h, s_cmp_u64);
    for (int i = 1; i < N; i++)
        ck_assert(h[i] != h[i - 1]);
    free(h);
    /* every length through the short and long paths, at two alignments */
    char buf[80], other[81];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (char)('a' + i % 26);
    memcpy(other + 1, buf, sizeof buf);
    for (size_t len = 0; len <= sizeof buf; len++) {
        ck_assert(nmq_hash(buf, len) == nmq_hash(other + 1, len));
        if (len)
            ck_assert(nmq_hash(buf, len) != nmq_hash(buf, len - 1));
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hashmap");
    TCase *tc = tcase_create("hashmap");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_empty_map_answers_absent);
    tcase_add_test(tc, test_put_get_replace_remove);
    tcase_add_test(tc, test_keys_are_bytes_empty_and_nul_included);
    tcase_add_test(tc, test_copied_keys_outlive_the_callers_buffer);
    tcase_add_test(tc, test_borrowed_keys_point_at_the_callers_bytes);
    tcase_add_test(tc, test_grow_iterate_and_shrink);
    tcase_add_test(tc, test_randomized_against_a_model);
    tcase_add_test(tc, test_hash_spreads_and_ignores_alignment);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

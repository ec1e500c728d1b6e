/* Unit tests: common/nmq_topic_index.c — the retained topics searched by
 * filter when a client subscribes.  The spec's wildcard examples seen from
 * this side, the '$' rule, store / replace / delete and pruning, walks that
 * stop early, deep topics, and a randomized differential run against the
 * reference matcher in topic_ref.h. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nmq_topic_index.h"
#include "nmq_topic_validate.h"
#include "topic_ref.h"

#define V(n) ((void *)(uintptr_t)(n))

static nmq_tindex_result_t res;

static const char *const TOPICS[] = {
    "sport", "sport/", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking",
    "sport/tennis/player1/score/wimbledon", "sport/tennis/player2", "sports",
    "/finance", "finance", "/", "a//b", "a/$b", "$SYS", "$SYS/monitor/Clients", "$share", "Accounts",
};
#define N_TOPICS (sizeof TOPICS / sizeof *TOPICS)

static nmq_tindex_t *s_fill(void)
{
    nmq_tindex_t *x = nmq_tindex_new();
    for (size_t i = 0; i < N_TOPICS; i++) {
        ck_assert_int_eq(nmq_topic_name_check((const uint8_t *)TOPICS[i], strlen(TOPICS[i])), NMQ_TOPIC_OK);
        ck_assert_ptr_null(nmq_tindex_put(x, TOPICS[i], strlen(TOPICS[i]), V(i + 1)));
    }
    return x;
}

static int s_cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The topics the filter finds, sorted, joined with ' '; checks each value. */
static const char *s_found(nmq_tindex_t *x, const char *filter)
{
    static char out[4096];
    EXPECT(nmq_topic_filter_check((const uint8_t *)filter, strlen(filter), NULL) == NMQ_TOPIC_OK, "bad filter %s", filter);
    size_t n = nmq_tindex_match_into(x, filter, strlen(filter), &res);
    EXPECT(n == res.n, "%s: returned %zu, holds %zu", filter, n, res.n);
    const char *names[4096];
    for (size_t i = 0; i < n; i++) {
        names[i] = res.hits[i].topic;
        EXPECT(strlen(names[i]) == res.hits[i].topic_len, "%s: length", names[i]);
        EXPECT(nmq_tindex_get(x, names[i], res.hits[i].topic_len) == res.hits[i].value, "%s: value", names[i]);
    }
    qsort(names, n, sizeof *names, s_cmp_str);
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, sizeof out - len, "%s%s", i ? " " : "", names[i]);
    return out;
}

#define FINDS(x, filter, want) ck_assert_str_eq(s_found(x, filter), want)

START_TEST(test_put_get_replace_remove_count)
{
    nmq_tindex_t *x = nmq_tindex_new();
    ck_assert_ptr_null(nmq_tindex_get(x, "a/b", 3));
    ck_assert_ptr_null(nmq_tindex_put(x, "a/b", 3, V(1)));
    ck_assert_ptr_eq(nmq_tindex_put(x, "a/b", 3, V(2)), V(1));
    ck_assert_ptr_eq(nmq_tindex_get(x, "a/b", 3), V(2));
    ck_assert_uint_eq(nmq_tindex_count(x), 1);
    /* the levels on the way are not topics */
    ck_assert_ptr_null(nmq_tindex_get(x, "a", 1));
    ck_assert_ptr_null(nmq_tindex_remove(x, "a", 1));
    ck_assert_ptr_null(nmq_tindex_get(x, "a/b/c", 5));
    ck_assert_ptr_null(nmq_tindex_put(x, "a", 1, V(3)));
    ck_assert_uint_eq(nmq_tindex_count(x), 2);
    ck_assert_ptr_eq(nmq_tindex_remove(x, "a/b", 3), V(2));
    ck_assert_ptr_null(nmq_tindex_remove(x, "a/b", 3));
    ck_assert_ptr_eq(nmq_tindex_get(x, "a", 1), V(3));
    ck_assert_uint_eq(nmq_tindex_count(x), 1);
    ck_assert_ptr_eq(nmq_tindex_remove(x, "a", 1), V(3));
    ck_assert_uint_eq(nmq_tindex_count(x), 0);
    FINDS(x, "#", "");
    nmq_tindex_destroy(&x);
    ck_assert_ptr_null(x);
    nmq_tindex_destroy(&x);
}
END_TEST

START_TEST(test_spec_examples_from_the_filter_side)
{
    nmq_tindex_t *x = s_fill();
    FINDS(x, "sport/tennis/player1/#",
          "sport/tennis/player1 sport/tennis/player1/ranking sport/tennis/player1/score/wimbledon");
    FINDS(x, "sport/#", "sport sport/ sport/tennis sport/tennis/player1 sport/tennis/player1/ranking "
                        "sport/tennis/player1/score/wimbledon sport/tennis/player2");
    FINDS(x, "sport/tennis/+", "sport/tennis/player1 sport/tennis/player2");
    FINDS(x, "sport/+", "sport/ sport/tennis");
    FINDS(x, "+", "Accounts finance sport sports");
    FINDS(x, "+/+", "/ /finance a/$b sport/ sport/tennis");
    FINDS(x, "/+", "/ /finance");
    FINDS(x, "+/tennis/#", "sport/tennis sport/tennis/player1 sport/tennis/player1/ranking "
                           "sport/tennis/player1/score/wimbledon sport/tennis/player2");
    FINDS(x, "sport/+/player1", "sport/tennis/player1");
    FINDS(x, "a/+/b", "a//b");
    FINDS(x, "a/+", "a/$b");
    FINDS(x, "sport/tennis/player3/#", "");
    FINDS(x, "ACCOUNTS", "");
    FINDS(x, "Accounts", "Accounts");
    FINDS(x, "+/+/+/+/+/+", "");
    nmq_tindex_destroy(&x);
}
END_TEST

START_TEST(test_dollar_topics_only_for_filters_that_name_them)
{
    nmq_tindex_t *x = s_fill();
    const char *all = s_found(x, "#");
    ck_assert_ptr_null(strstr(all, "$SYS"));
    ck_assert_ptr_null(strstr(all, "$share"));
    ck_assert_ptr_nonnull(strstr(all, "a/$b"));         /* not the first level */
    FINDS(x, "+/monitor/Clients", "");
    FINDS(x, "+/#", "/ /finance Accounts a/$b a//b finance sport sport/ sport/tennis sport/tennis/player1 "
                    "sport/tennis/player1/ranking sport/tennis/player1/score/wimbledon sport/tennis/player2 sports");
    FINDS(x, "$SYS/#", "$SYS $SYS/monitor/Clients");
    FINDS(x, "$SYS/+/Clients", "$SYS/monitor/Clients");
    FINDS(x, "$SYS", "$SYS");
    FINDS(x, "$share", "$share");
    nmq_tindex_destroy(&x);
}
END_TEST

typedef struct {
    size_t seen, stop_at;
} s_count_t;

static int s_count(const char *topic, size_t len, void *value, void *arg)
{
    s_count_t *c = arg;
    EXPECT(strlen(topic) == len && value, "topic %s", topic);
    return ++c->seen == c->stop_at;
}

START_TEST(test_each_visits_everything_and_walks_stop_early)
{
    nmq_tindex_t *x = s_fill();
    s_count_t c = { 0, 0 };
    ck_assert_uint_eq(nmq_tindex_each(x, s_count, &c), N_TOPICS);   /* '$' topics too */
    ck_assert_uint_eq(c.seen, N_TOPICS);
    c = (s_count_t){ 0, 3 };
    ck_assert_uint_eq(nmq_tindex_each(x, s_count, &c), 3);
    c = (s_count_t){ 0, 2 };
    ck_assert_uint_eq(nmq_tindex_match(x, "sport/#", 7, s_count, &c), 2);
    c = (s_count_t){ 0, 0 };
    ck_assert_uint_eq(nmq_tindex_match(x, "sport/#", 7, s_count, &c), 7);
    nmq_tindex_destroy(&x);
}
END_TEST

START_TEST(test_removal_keeps_the_neighbours)
{
    nmq_tindex_t *x = s_fill();
    ck_assert_ptr_nonnull(nmq_tindex_remove(x, "sport/tennis", 12));        /* a node with children */
    FINDS(x, "sport/+", "sport/");
    FINDS(x, "sport/tennis/+", "sport/tennis/player1 sport/tennis/player2");
    ck_assert_ptr_nonnull(nmq_tindex_remove(x, "sport/tennis/player1/score/wimbledon", 36)); /* a deep leaf */
    FINDS(x, "sport/tennis/player1/#", "sport/tennis/player1 sport/tennis/player1/ranking");
    for (size_t i = 0; i < N_TOPICS; i++)
        nmq_tindex_remove(x, TOPICS[i], strlen(TOPICS[i]));
    ck_assert_uint_eq(nmq_tindex_count(x), 0);
    FINDS(x, "#", "");
    FINDS(x, "$SYS/#", "");
    /* and grows back */
    nmq_tindex_put(x, "sport/tennis", 12, V(1));
    FINDS(x, "sport/#", "sport/tennis");
    nmq_tindex_destroy(&x);
}
END_TEST

START_TEST(test_result_buffer_is_reused)
{
    nmq_tindex_t *x = nmq_tindex_new();
    char t[32];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(t, sizeof t, "dev/%d/temp", i);
        nmq_tindex_put(x, t, (size_t)n, V(i + 1));
    }
    ck_assert_uint_eq(nmq_tindex_match_into(x, "dev/+/temp", 10, &res), 5000);
    nmq_tindex_hit_t *before = res.hits;
    ck_assert_uint_eq(nmq_tindex_match_into(x, "dev/42/temp", 11, &res), 1);
    ck_assert_ptr_eq(res.hits[0].value, V(43));
    ck_assert_uint_eq(nmq_tindex_match_into(x, "nothing/#", 9, &res), 0);
    ck_assert_uint_eq(nmq_tindex_match_into(x, "#", 1, &res), 5000);
    ck_assert_ptr_eq(res.hits, before);
    nmq_tindex_result_free(&res);
    ck_assert_ptr_null(res.hits);
    nmq_tindex_destroy(&x);
}
END_TEST

START_TEST(test_deep_topics)
{
    nmq_tindex_t *x = nmq_tindex_new();
    size_t len = 65535;     /* "x/x/.../x": 32768 levels */
    char *topic = malloc(len + 1), *filter = malloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        topic[i] = i % 2 ? '/' : 'x';
        filter[i] = i % 2 ? '/' : '+';
    }
    topic[len] = filter[len] = '\0';
    nmq_tindex_put(x, topic, len, V(1));
    nmq_tindex_put(x, "/", 1, V(2));
    ck_assert_uint_eq(nmq_tindex_match_into(x, "#", 1, &res), 2);
    ck_assert_uint_eq(nmq_tindex_match_into(x, "/#", 2, &res), 1);
    ck_assert_uint_eq(nmq_tindex_match_into(x, "x/#", 3, &res), 1);
    ck_assert_uint_eq(nmq_tindex_match_into(x, filter, len, &res), 1);
    ck_assert_uint_eq(res.hits[0].topic_len, len);
    filter[len - 1] = '#';
    ck_assert_uint_eq(nmq_tindex_match_into(x, filter, len, &res), 1);
    ck_assert_ptr_eq(nmq_tindex_get(x, topic, len), V(1));
    ck_assert_ptr_eq(nmq_tindex_remove(x, topic, len), V(1));
    ck_assert_uint_eq(nmq_tindex_match_into(x, "#", 1, &res), 1);
    free(filter);
    free(topic);
    nmq_tindex_destroy(&x);
}
END_TEST

START_TEST(test_randomized_against_the_reference)
{
    enum { ROUNDS = 40, OPS = 100, FILTERS = 150, MAX = 4096 };
    static char live[MAX][48];
    size_t n_live = 0, checked = 0, found = 0;
    srandom(11);
    nmq_tindex_t *x = nmq_tindex_new();
    for (int round = 0; round < ROUNDS; round++) {
        for (int op = 0; op < OPS; op++) {
            char t[48];
            ref_random_levels(t, sizeof t, false);
            size_t i = 0;
            while (i < n_live && strcmp(live[i], t))
                i++;
            if (random() % 100 < 65) {
                void *old = nmq_tindex_put(x, t, strlen(t), V(round * OPS + op + 1));
                EXPECT(!old == (i == n_live), "put %s", t);
                if (i == n_live && n_live < MAX)
                    strcpy(live[n_live++], t);
            } else {
                EXPECT(!nmq_tindex_remove(x, t, strlen(t)) == (i == n_live), "remove %s", t);
                if (i < n_live)
                    memcpy(live[i], live[--n_live], sizeof live[i]);
            }
        }
        EXPECT(nmq_tindex_count(x) == n_live, "count %zu, want %zu", nmq_tindex_count(x), n_live);
        for (int k = 0; k < FILTERS; k++) {
            char f[48];
            ref_random_levels(f, sizeof f, true);
            const char *want[MAX];
            size_t n = 0;
            for (size_t i = 0; i < n_live; i++)
                if (ref_match(f, live[i]))
                    want[n++] = live[i];
            qsort(want, n, sizeof *want, s_cmp_str);
            char expect[MAX * 8];
            size_t len = 0;
            expect[0] = '\0';
            for (size_t i = 0; i < n; i++)
                len += (size_t)snprintf(expect + len, sizeof expect - len, "%s%s", i ? " " : "", want[i]);
            const char *got = s_found(x, f);
            EXPECT(!strcmp(got, expect), "%s: found \"%s\", want \"%s\"", f, got, expect);
            checked++;
            found += n;
        }
    }
    ck_assert_uint_gt(found, checked);     /* the run did meet topics */
    nmq_tindex_destroy(&x);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("topic_index");
    TCase *tc = tcase_create("index");
    tcase_add_test(tc, test_put_get_replace_remove_count);
    tcase_add_test(tc, test_spec_examples_from_the_filter_side);
    tcase_add_test(tc, test_dollar_topics_only_for_filters_that_name_them);
    tcase_add_test(tc, test_each_visits_everything_and_walks_stop_early);
    tcase_add_test(tc, test_removal_keeps_the_neighbours);
    tcase_add_test(tc, test_result_buffer_is_reused);
    tcase_add_test(tc, test_deep_topics);
    suite_add_tcase(s, tc);
    TCase *random_ = tcase_create("randomized");
    tcase_set_timeout(random_, 120);
    tcase_add_test(random_, test_randomized_against_the_reference);
    suite_add_tcase(s, random_);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

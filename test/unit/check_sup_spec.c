/* Unit tests: the child-spec table and the pure rules of supervision
 * (supervisor/sup_spec.c): restart decisions per restart type and exit, the
 * restart set per strategy, and restart intensity over a sliding window. */
#include <check.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "sup_spec.h"

/* Wait statuses as waitpid(2) would report them. */
static int s_exited(int code) { return (code & 0xff) << 8; }
static int s_signaled(int sig) { return sig & 0x7f; }

START_TEST(test_table_starts_dependencies_first_and_acceptors_last)
{
    int n;
    const sup_spec_t *specs = sup_specs(&n);
    static const char *const order[] = { "portmap", "metadata", "queue", "cluster", "migration", "acceptor" };
    ck_assert_int_eq(n, 6);
    for (int i = 0; i < n; i++)
        ck_assert_str_eq(specs[i].role, order[i]);
    ck_assert(specs[n - 1].listener);
    for (int i = 0; i < n - 1; i++)
        ck_assert(!specs[i].listener);
    ck_assert_ptr_eq(sup_spec_find("queue"), &specs[2]);
    ck_assert_ptr_null(sup_spec_find("nosuchrole"));
}
END_TEST

START_TEST(test_counts_come_from_the_config)
{
    nmq_config_t *cfg = nmq_config_new();
    cfg->listener_nr_of_acceptors = 7;
    cfg->queue_shards = 3;
    ck_assert_int_eq(sup_spec_count(sup_spec_find("acceptor"), cfg), 7);
    ck_assert_int_eq(sup_spec_count(sup_spec_find("queue"), cfg), 3);
    ck_assert_int_eq(sup_spec_count(sup_spec_find("metadata"), cfg), 1);
    ck_assert_int_eq(sup_spec_count(sup_spec_find("portmap"), cfg), 1);
    nmq_config_destroy(&cfg);
}
END_TEST

START_TEST(test_exit_kinds)
{
    ck_assert_int_eq(sup_exit_kind(s_exited(0)), SUP_EXIT_NORMAL);
    ck_assert_int_eq(sup_exit_kind(s_exited(1)), SUP_EXIT_ABNORMAL);
    ck_assert_int_eq(sup_exit_kind(s_exited(127)), SUP_EXIT_ABNORMAL);
    ck_assert_int_eq(sup_exit_kind(s_signaled(9)), SUP_EXIT_ABNORMAL);
    ck_assert_int_eq(sup_exit_kind(s_signaled(11)), SUP_EXIT_ABNORMAL);
    ck_assert_int_eq(sup_exit_kind(s_exited(NMQ_EXIT_CONFIG)), SUP_EXIT_FATAL);
}
END_TEST

START_TEST(test_restart_wanted_per_type)
{
    /* OTP: permanent always, transient only after an abnormal exit, temporary never;
     * ours: a fatal (config) exit never, whatever the type. */
    ck_assert(sup_restart_wanted(SUP_PERMANENT, SUP_EXIT_NORMAL));
    ck_assert(sup_restart_wanted(SUP_PERMANENT, SUP_EXIT_ABNORMAL));
    ck_assert(!sup_restart_wanted(SUP_PERMANENT, SUP_EXIT_FATAL));
    ck_assert(!sup_restart_wanted(SUP_TRANSIENT, SUP_EXIT_NORMAL));
    ck_assert(sup_restart_wanted(SUP_TRANSIENT, SUP_EXIT_ABNORMAL));
    ck_assert(!sup_restart_wanted(SUP_TRANSIENT, SUP_EXIT_FATAL));
    ck_assert(!sup_restart_wanted(SUP_TEMPORARY, SUP_EXIT_NORMAL));
    ck_assert(!sup_restart_wanted(SUP_TEMPORARY, SUP_EXIT_ABNORMAL));
    ck_assert(!sup_restart_wanted(SUP_TEMPORARY, SUP_EXIT_FATAL));
}
END_TEST

START_TEST(test_one_for_one_restarts_only_the_crashed_child)
{
    sup_strategy_t s[5] = { SUP_ONE_FOR_ONE, SUP_ONE_FOR_ONE, SUP_ONE_FOR_ONE, SUP_ONE_FOR_ONE, SUP_ONE_FOR_ONE };
    int out[5];
    ck_assert_int_eq(sup_restart_set(s, 5, 2, out), 1);
    ck_assert_int_eq(out[0], 2);
}
END_TEST

START_TEST(test_rest_for_one_restarts_the_children_started_after_it)
{
    sup_strategy_t s[5] = { SUP_ONE_FOR_ONE, SUP_REST_FOR_ONE, SUP_ONE_FOR_ONE, SUP_ONE_FOR_ONE, SUP_ONE_FOR_ONE };
    int out[5];
    int n = sup_restart_set(s, 5, 1, out);
    ck_assert_int_eq(n, 4);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(out[i], 1 + i);
    /* the last child under rest_for_one has nobody after it */
    s[4] = SUP_REST_FOR_ONE;
    ck_assert_int_eq(sup_restart_set(s, 5, 4, out), 1);
    /* the strategy of the crashed child decides, not its neighbours' */
    ck_assert_int_eq(sup_restart_set(s, 5, 0, out), 1);
}
END_TEST

START_TEST(test_intensity_allows_max_restarts_in_the_period)
{
    sup_intensity_t it;
    sup_intensity_init(&it, 10, 10);
    for (int i = 0; i < 10; i++)
        ck_assert_msg(!sup_intensity_add(&it, 1000 + i * 100), "restart %d", i + 1);
    ck_assert(sup_intensity_add(&it, 2500));   /* the 11th within 10 s */
    sup_intensity_fini(&it);
}
END_TEST

START_TEST(test_intensity_window_slides)
{
    sup_intensity_t it;
    sup_intensity_init(&it, 3, 10);
    ck_assert(!sup_intensity_add(&it, 0));
    ck_assert(!sup_intensity_add(&it, 1000));
    ck_assert(!sup_intensity_add(&it, 2000));
    /* 10 s after the first, it no longer counts */
    ck_assert(!sup_intensity_add(&it, 10000));
    ck_assert_int_eq(sup_intensity_recent(&it, 10000), 3);
    ck_assert(sup_intensity_add(&it, 10500));   /* 1000, 2000, 10000, 10500 */
    /* a long quiet spell forgets everything */
    ck_assert_int_eq(sup_intensity_recent(&it, 100000), 0);
    ck_assert(!sup_intensity_add(&it, 100000));
    sup_intensity_fini(&it);
}
END_TEST

START_TEST(test_intensity_one_restart_per_period_forever_is_fine)
{
    sup_intensity_t it;
    sup_intensity_init(&it, 1, 5);
    for (int i = 0; i < 1000; i++)
        ck_assert(!sup_intensity_add(&it, (int64_t)i * 5000));
    sup_intensity_fini(&it);
}
END_TEST

START_TEST(test_intensity_zero_max_stops_at_the_first_restart)
{
    sup_intensity_t it;
    sup_intensity_init(&it, 0, 10);
    ck_assert(sup_intensity_add(&it, 0));
    sup_intensity_fini(&it);
}
END_TEST

START_TEST(test_intensity_limits_change_keeps_recent_history)
{
    sup_intensity_t it;
    sup_intensity_init(&it, 10, 10);
    for (int i = 0; i < 5; i++)
        sup_intensity_add(&it, i * 100);
    sup_intensity_reset_limits(&it, 3, 10);      /* shrink: keeps the newest 4 */
    ck_assert_int_eq(sup_intensity_recent(&it, 500), 4);
    ck_assert(sup_intensity_add(&it, 600));
    sup_intensity_reset_limits(&it, 20, 10);     /* grow: nothing lost */
    ck_assert_int_eq(sup_intensity_recent(&it, 700), 4);
    ck_assert(!sup_intensity_add(&it, 700));
    sup_intensity_fini(&it);
}
END_TEST

START_TEST(test_names)
{
    ck_assert_str_eq(sup_restart_name(SUP_PERMANENT), "permanent");
    ck_assert_str_eq(sup_restart_name(SUP_TRANSIENT), "transient");
    ck_assert_str_eq(sup_restart_name(SUP_TEMPORARY), "temporary");
    ck_assert_str_eq(sup_strategy_name(SUP_ONE_FOR_ONE), "one_for_one");
    ck_assert_str_eq(sup_strategy_name(SUP_REST_FOR_ONE), "rest_for_one");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sup_spec");
    TCase *tc = tcase_create("spec");
    tcase_add_test(tc, test_table_starts_dependencies_first_and_acceptors_last);
    tcase_add_test(tc, test_counts_come_from_the_config);
    tcase_add_test(tc, test_exit_kinds);
    tcase_add_test(tc, test_restart_wanted_per_type);
    tcase_add_test(tc, test_one_for_one_restarts_only_the_crashed_child);
    tcase_add_test(tc, test_rest_for_one_restarts_the_children_started_after_it);
    tcase_add_test(tc, test_names);
    suite_add_tcase(s, tc);
    TCase *ti = tcase_create("intensity");
    tcase_add_test(ti, test_intensity_allows_max_restarts_in_the_period);
    tcase_add_test(ti, test_intensity_window_slides);
    tcase_add_test(ti, test_intensity_one_restart_per_period_forever_is_fine);
    tcase_add_test(ti, test_intensity_zero_max_stops_at_the_first_restart);
    tcase_add_test(ti, test_intensity_limits_change_keeps_recent_history);
    suite_add_tcase(s, ti);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

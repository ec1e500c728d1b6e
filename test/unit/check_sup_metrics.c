/* Unit tests: the supervisor's metric table (supervisor/sup_metrics.c):
 * set replaces, add sums by name, counters of exited workers carry over while
 * their gauges do not, output is sorted by name. */
#include <check.h>
#include <stdlib.h>

#include "sup_metrics.h"

START_TEST(test_set_replaces_by_name)
{
    sup_metrics_t m = { 0 };
    sup_metrics_set(&m, "mqtt_publish_received", 5, false);
    sup_metrics_set(&m, "mqtt_publish_received", 9, false);
    sup_metrics_set(&m, "active_mqtt_connections", 3, true);
    ck_assert_uint_eq(m.n, 2);
    ck_assert_uint_eq(sup_metrics_get(&m, "mqtt_publish_received")->value, 9);
    ck_assert(sup_metrics_get(&m, "active_mqtt_connections")->gauge);
    ck_assert_ptr_null(sup_metrics_get(&m, "nope"));
    sup_metrics_free(&m);
}
END_TEST

START_TEST(test_retired_counters_carry_over_gauges_do_not)
{
    sup_metrics_t worker = { 0 }, retired = { 0 }, sum = { 0 };
    sup_metrics_set(&worker, "mqtt_publish_received", 100, false);
    sup_metrics_set(&worker, "active_mqtt_connections", 7, true);
    sup_metrics_add(&retired, &worker, true);          /* the worker exits */
    ck_assert_uint_eq(retired.n, 1);
    ck_assert_ptr_null(sup_metrics_get(&retired, "active_mqtt_connections"));
    sup_metrics_clear(&worker);                        /* its successor starts from 0 */
    sup_metrics_set(&worker, "mqtt_publish_received", 4, false);
    sup_metrics_set(&worker, "active_mqtt_connections", 2, true);
    sup_metrics_add(&sum, &retired, false);
    sup_metrics_add(&sum, &worker, false);
    ck_assert_uint_eq(sup_metrics_get(&sum, "mqtt_publish_received")->value, 104);
    ck_assert_uint_eq(sup_metrics_get(&sum, "active_mqtt_connections")->value, 2);
    sup_metrics_free(&worker);
    sup_metrics_free(&retired);
    sup_metrics_free(&sum);
}
END_TEST

START_TEST(test_sum_over_workers_and_sort)
{
    sup_metrics_t a = { 0 }, b = { 0 }, sum = { 0 };
    sup_metrics_set(&a, "queue_message_in", 10, false);
    sup_metrics_set(&a, "bytes_sent", 1, false);
    sup_metrics_set(&b, "queue_message_in", 32, false);
    sup_metrics_set(&b, "active_mqtt_connections", 5, true);
    sup_metrics_add(&sum, &a, false);
    sup_metrics_add(&sum, &b, false);
    sup_metrics_sort(&sum);
    ck_assert_uint_eq(sum.n, 3);
    ck_assert_str_eq(sum.m[0].name, "active_mqtt_connections");
    ck_assert_str_eq(sum.m[1].name, "bytes_sent");
    ck_assert_str_eq(sum.m[2].name, "queue_message_in");
    ck_assert_uint_eq(sum.m[2].value, 42);
    sup_metrics_free(&a);
    sup_metrics_free(&b);
    sup_metrics_free(&sum);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sup_metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, test_set_replaces_by_name);
    tcase_add_test(tc, test_retired_counters_carry_over_gauges_do_not);
    tcase_add_test(tc, test_sum_over_workers_and_sort);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

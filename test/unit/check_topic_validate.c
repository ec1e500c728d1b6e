/* check_topic_validate — topic names and filters (5.0 and 3.1.1 section
 * 4.7, [MQTT-4.7.0-1] [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.7.3-1]
 * [MQTT-4.7.3-3]) and shared subscriptions ([MQTT-4.8.2-1] [MQTT-4.8.2-2]). */
#include "nmq_topic_validate.h"

#include "mqtt_test.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *s;
    nmq_topic_status_t want;
} s_case_t;

static const s_case_t s_names[] = {
    { "a", NMQ_TOPIC_OK },
    { "a/b", NMQ_TOPIC_OK },
    { "/", NMQ_TOPIC_OK },
    { "//", NMQ_TOPIC_OK },
    { "/a/", NMQ_TOPIC_OK },
    { "$SYS/broker/uptime", NMQ_TOPIC_OK },
    { "a b/c d", NMQ_TOPIC_OK },
    { "", NMQ_TOPIC_EMPTY },
    { "+", NMQ_TOPIC_WILDCARD },
    { "#", NMQ_TOPIC_WILDCARD },
    { "a/+", NMQ_TOPIC_WILDCARD },
    { "a/#", NMQ_TOPIC_WILDCARD },
    { "a#b", NMQ_TOPIC_WILDCARD },
    { "sensors/room-1/temp+", NMQ_TOPIC_WILDCARD },
    { "sensors/room-1/temperature#", NMQ_TOPIC_WILDCARD },
};

static const s_case_t s_filters[] = {
    { "a", NMQ_TOPIC_OK },
    { "#", NMQ_TOPIC_OK },
    { "+", NMQ_TOPIC_OK },
    { "a/#", NMQ_TOPIC_OK },
    { "a/+/b", NMQ_TOPIC_OK },
    { "+/+", NMQ_TOPIC_OK },
    { "/+", NMQ_TOPIC_OK },
    { "+/", NMQ_TOPIC_OK },
    { "/#", NMQ_TOPIC_OK },
    { "+/#", NMQ_TOPIC_OK },
    { "$SYS/#", NMQ_TOPIC_OK },
    { "/", NMQ_TOPIC_OK },
    { "$share/g/a", NMQ_TOPIC_OK },
    { "$share/g/#", NMQ_TOPIC_OK },
    { "$share/group-1/+/b/#", NMQ_TOPIC_OK },
    { "$share", NMQ_TOPIC_OK },           /* not a shared subscription */
    { "$sharex/a", NMQ_TOPIC_OK },
    { "", NMQ_TOPIC_EMPTY },
    { "a#", NMQ_TOPIC_BAD_MULTI },
    { "#a", NMQ_TOPIC_BAD_MULTI },
    { "a/#/b", NMQ_TOPIC_BAD_MULTI },
    { "##", NMQ_TOPIC_BAD_MULTI },
    { "#/", NMQ_TOPIC_BAD_MULTI },
    { "a+", NMQ_TOPIC_BAD_SINGLE },
    { "+a", NMQ_TOPIC_BAD_SINGLE },
    { "a/b+", NMQ_TOPIC_BAD_SINGLE },
    { "a/+b/c", NMQ_TOPIC_BAD_SINGLE },
    { "++", NMQ_TOPIC_BAD_SINGLE },
    { "+#", NMQ_TOPIC_BAD_SINGLE },
    { "$share/", NMQ_TOPIC_BAD_SHARE },
    { "$share//a", NMQ_TOPIC_BAD_SHARE },
    { "$share/g", NMQ_TOPIC_BAD_SHARE },
    { "$share/g/", NMQ_TOPIC_BAD_SHARE },
    { "$share/g+/a", NMQ_TOPIC_BAD_SHARE },
    { "$share/#/a", NMQ_TOPIC_BAD_SHARE },
    { "$share/g/a/#/b", NMQ_TOPIC_BAD_MULTI },
    { "$share/g/a+", NMQ_TOPIC_BAD_SINGLE },
};

START_TEST(test_topic_name_case)
{
    const s_case_t *c = &s_names[_i];
    ck_assert_msg(nmq_topic_name_check((const uint8_t *)c->s, strlen(c->s)) == c->want, "name '%s'", c->s);
}
END_TEST

START_TEST(test_topic_filter_case)
{
    const s_case_t *c = &s_filters[_i];
    nmq_topic_status_t st = nmq_topic_filter_check((const uint8_t *)c->s, strlen(c->s), NULL);
    ck_assert_msg(st == c->want, "filter '%s': %s", c->s, nmq_topic_status_str(st));
}
END_TEST

/* The word-at-a-time scan sees a wildcard at every offset and alignment. */
START_TEST(test_topic_name_wildcard_every_offset)
{
    uint8_t buf[48];
    for (size_t len = 1; len <= sizeof buf; len++) {
        memset(buf, 'a', sizeof buf);
        ck_assert_int_eq(nmq_topic_name_check(buf, len), NMQ_TOPIC_OK);
        for (size_t at = 0; at < len; at++) {
            buf[at] = (at & 1) ? '+' : '#';
            ck_assert_int_eq(nmq_topic_name_check(buf, len), NMQ_TOPIC_WILDCARD);
            buf[at] = 'a';
        }
    }
}
END_TEST

START_TEST(test_topic_length_limit)
{
    uint8_t *b = malloc(65536);
    memset(b, 'a', 65536);
    ck_assert_int_eq(nmq_topic_name_check(b, 65535), NMQ_TOPIC_OK);
    ck_assert_int_eq(nmq_topic_name_check(b, 65536), NMQ_TOPIC_TOO_LONG);
    ck_assert_int_eq(nmq_topic_filter_check(b, 65535, NULL), NMQ_TOPIC_OK);
    ck_assert_int_eq(nmq_topic_filter_check(b, 65536, NULL), NMQ_TOPIC_TOO_LONG);
    free(b);
}
END_TEST

START_TEST(test_topic_share_split)
{
    nmq_topic_share_t sh;
    const char *f = "$share/workers/jobs/+/new";
    ck_assert_int_eq(nmq_topic_filter_check((const uint8_t *)f, strlen(f), &sh), NMQ_TOPIC_OK);
    ck_assert_uint_eq(sh.group_len, 7);
    ck_assert_int_eq(memcmp(sh.group, "workers", 7), 0);
    ck_assert_uint_eq(sh.filter_len, strlen("jobs/+/new"));
    ck_assert_int_eq(memcmp(sh.filter, "jobs/+/new", sh.filter_len), 0);
    f = "jobs/#";
    ck_assert_int_eq(nmq_topic_filter_check((const uint8_t *)f, strlen(f), &sh), NMQ_TOPIC_OK);
    ck_assert_uint_eq(sh.group_len, 0);
    ck_assert_ptr_eq(sh.filter, (const uint8_t *)f);
    ck_assert_uint_eq(sh.filter_len, 6);
}
END_TEST

START_TEST(test_topic_status_strings)
{
    for (int st = NMQ_TOPIC_OK; st <= NMQ_TOPIC_BAD_SHARE; st++)
        ck_assert_str_ne(nmq_topic_status_str((nmq_topic_status_t)st), "unknown");
    ck_assert_str_eq(nmq_topic_status_str((nmq_topic_status_t)99), "unknown");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("topic_validate");
    TCase *tc = tcase_create("topic");
    tcase_add_loop_test(tc, test_topic_name_case, 0, (int)(sizeof s_names / sizeof s_names[0]));
    tcase_add_loop_test(tc, test_topic_filter_case, 0, (int)(sizeof s_filters / sizeof s_filters[0]));
    tcase_add_test(tc, test_topic_name_wildcard_every_offset);
    tcase_add_test(tc, test_topic_length_limit);
    tcase_add_test(tc, test_topic_share_split);
    tcase_add_test(tc, test_topic_status_strings);
    suite_add_tcase(s, tc);
    return mqtt_run_suite(s);
}

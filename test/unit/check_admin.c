/* Unit tests: nemomq-admin's grammar as the supervisor parses it
 * (supervisor/sup_admin.c) and the table/JSON rendering every command shares
 * (common/nmq_table.c).  The node here is a bare sup_node_t with a default
 * config and no children: only commands that read state are exercised. */
#include <check.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "nmq_table.h"
#include "sup_node.h"

typedef struct {
    int status;
    char *out, *err;
} reply_t;

static reply_t s_admin(sup_node_t *node, bool json, int argc, ...)
{
    char *argv[16];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc; i++)
        argv[i] = strdup(va_arg(ap, const char *));
    va_end(ap);
    nmq_strbuf_t out = { 0 }, err = { 0 };
    reply_t r;
    r.status = sup_admin_handle(node, argc, argv, json, &out, &err);
    r.out = nmq_strbuf_take(&out);
    r.err = nmq_strbuf_take(&err);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    return r;
}

static void s_free(reply_t *r)
{
    free(r->out);
    free(r->err);
}

static sup_node_t *s_node(void)
{
    sup_node_t *node = calloc(1, sizeof *node);
    node->cfg = nmq_config_new();
    node->generation = 1;
    return node;
}

START_TEST(test_ping_answers_pong)
{
    sup_node_t *node = s_node();
    reply_t r = s_admin(node, false, 1, "ping");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "pong\n");
    ck_assert_str_eq(r.err, "");
    s_free(&r);
}
END_TEST

START_TEST(test_unknown_command_is_usage_and_status_2)
{
    sup_node_t *node = s_node();
    reply_t r = s_admin(node, false, 2, "frobnicate", "now");
    ck_assert_int_eq(r.status, 2);
    ck_assert_str_eq(r.out, "");
    ck_assert_ptr_nonnull(strstr(r.err, "unknown command 'frobnicate'"));
    ck_assert_ptr_nonnull(strstr(r.err, "Usage: nemomq-admin"));
    ck_assert_ptr_nonnull(strstr(r.err, "workers"));
    s_free(&r);
    r = s_admin(node, false, 0);
    ck_assert_int_eq(r.status, 2);
    s_free(&r);
}
END_TEST

START_TEST(test_unknown_argument_is_status_2)
{
    sup_node_t *node = s_node();
    reply_t r = s_admin(node, false, 2, "workers", "--all");
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "unknown argument '--all'"));
    s_free(&r);
    r = s_admin(node, false, 2, "ping", "node=x");
    ck_assert_int_eq(r.status, 2);
    s_free(&r);
    r = s_admin(node, false, 2, "show", "--verbose");
    ck_assert_int_eq(r.status, 2);
    s_free(&r);
}
END_TEST

START_TEST(test_show_prints_running_values)
{
    sup_node_t *node = s_node();
    reply_t r = s_admin(node, true, 3, "show", "nodename", "listener.nr_of_acceptors");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "[{\"key\": \"nodename\", \"value\": \"nemomq@127.0.0.1\"},\n"
                            " {\"key\": \"listener.nr_of_acceptors\", \"value\": \"2\"}]\n");
    s_free(&r);
    r = s_admin(node, false, 2, "show", "no.such.key");
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "unknown config key 'no.such.key'"));
    s_free(&r);
    r = s_admin(node, false, 1, "show");
    ck_assert_int_eq(r.status, 2);
    s_free(&r);
}
END_TEST

START_TEST(test_set_refuses_malformed_and_unknown_keys_before_touching_the_node)
{
    sup_node_t *node = s_node();
    reply_t r = s_admin(node, false, 2, "set", "max_inflight_messages");
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "is not KEY=VALUE"));
    s_free(&r);
    r = s_admin(node, false, 2, "set", "nosuch=1");
    ck_assert_int_eq(r.status, 2);
    s_free(&r);
    ck_assert_uint_eq(node->generation, 1);
}
END_TEST

START_TEST(test_workers_lists_the_supervisor_and_children)
{
    sup_node_t *node = s_node();
    sup_child_t kids[2] = {
        { .spec = sup_spec_find("queue"), .slot = 0, .pid = 101, .state = SUP_CHILD_RUNNING, .restarts = 2 },
        { .spec = sup_spec_find("acceptor"), .slot = 1, .pid = 0, .state = SUP_CHILD_DOWN },
    };
    node->children = kids;
    node->nchildren = 2;
    reply_t r = s_admin(node, true, 1, "workers");
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "{\"role\": \"supervisor\""));
    ck_assert_ptr_nonnull(strstr(r.out, "{\"role\": \"queue\", \"slot\": \"0\", \"pid\": 101, "
                                        "\"state\": \"running\", \"restarts\": 2"));
    ck_assert_ptr_nonnull(strstr(r.out, "\"role\": \"acceptor\", \"slot\": \"1\", \"pid\": 0, "
                                        "\"state\": \"down\""));
    s_free(&r);
}
END_TEST

START_TEST(test_table_text_and_json)
{
    static const char *const cols[] = { "name", "#count" };
    nmq_table_t *t = nmq_table_new(cols, 2);
    nmq_table_cell(t, "a \"quoted\"\tname");
    nmq_table_cell(t, "%d", 7);
    nmq_table_cell(t, "b");
    nmq_table_cell(t, "%d", 12345);
    ck_assert_int_eq(nmq_table_rows(t), 2);
    char *text = nmq_table_render(t, false);
    ck_assert_str_eq(text,
                     "+-----------------+-------+\n"
                     "| name            | count |\n"
                     "+-----------------+-------+\n"
                     "| a \"quoted\"\tname |     7 |\n"
                     "| b               | 12345 |\n"
                     "+-----------------+-------+\n");
    free(text);
    char *json = nmq_table_render(t, true);
    ck_assert_str_eq(json, "[{\"name\": \"a \\\"quoted\\\"\\u0009name\", \"count\": 7},\n"
                           " {\"name\": \"b\", \"count\": 12345}]\n");
    free(json);
    nmq_table_destroy(&t);
    ck_assert_ptr_null(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("admin");
    TCase *tc = tcase_create("admin");
    tcase_add_test(tc, test_ping_answers_pong);
    tcase_add_test(tc, test_unknown_command_is_usage_and_status_2);
    tcase_add_test(tc, test_unknown_argument_is_status_2);
    tcase_add_test(tc, test_show_prints_running_values);
    tcase_add_test(tc, test_set_refuses_malformed_and_unknown_keys_before_touching_the_node);
    tcase_add_test(tc, test_workers_lists_the_supervisor_and_children);
    tcase_add_test(tc, test_table_text_and_json);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

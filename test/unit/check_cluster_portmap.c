/* Unit tests: the port mapper's protocol (workers/portmap/portmap_proto.c),
 * the parser that faces whatever connects to port 4369: requests, replies,
 * line framing, and node names. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "portmap/portmap.h"

static int s_req(const char *line, portmap_request_t *r)
{
    const char *why = NULL;
    int rc = portmap_parse_request(line, strlen(line), r, &why);
    if (rc < 0)
        ck_assert_ptr_nonnull(why);
    return rc;
}

START_TEST(test_requests_parse)
{
    portmap_request_t r;
    ck_assert_int_eq(s_req("REGISTER c1 44053", &r), 0);
    ck_assert_int_eq(r.verb, PORTMAP_REGISTER);
    ck_assert_str_eq(r.name, "c1");
    ck_assert_int_eq(r.port, 44053);
    ck_assert_int_eq(s_req("LOOKUP node_A-9", &r), 0);
    ck_assert_int_eq(r.verb, PORTMAP_LOOKUP);
    ck_assert_str_eq(r.name, "node_A-9");
    ck_assert_int_eq(s_req("NAMES", &r), 0);
    ck_assert_int_eq(r.verb, PORTMAP_NAMES);
    ck_assert_int_eq(s_req("PING", &r), 0);
    ck_assert_int_eq(r.verb, PORTMAP_PING);
    ck_assert_int_eq(s_req("REGISTER c1 1", &r), 0);
    ck_assert_int_eq(s_req("REGISTER c1 65535", &r), 0);
}
END_TEST

START_TEST(test_bad_requests_are_refused)
{
    static const char *const bad[] = {
        "", " ", "NAMES ", " NAMES", "names", "LOOKUP", "LOOKUP  c1", "LOOKUP c1 c2",
        "REGISTER c1", "REGISTER c1 0", "REGISTER c1 65536", "REGISTER c1 -1", "REGISTER c1 01",
        "REGISTER c1 4369x", "REGISTER c1 123456", "REGISTER c@1 4369", "REGISTER c.1 4369",
        "LOOKUP n\xc3\xa9", "PING PONG", "GET / HTTP/1.1", "REGISTER a b c d e",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        portmap_request_t r;
        ck_assert_msg(s_req(bad[i], &r) < 0, "accepted '%s'", bad[i]);
    }
    char longname[PORTMAP_NAME_MAX + 16] = "LOOKUP ";
    memset(longname + 7, 'a', PORTMAP_NAME_MAX + 1);
    longname[7 + PORTMAP_NAME_MAX + 1] = '\0';
    portmap_request_t r;
    ck_assert_int_lt(s_req(longname, &r), 0);
    longname[7 + PORTMAP_NAME_MAX] = '\0';
    ck_assert_int_eq(s_req(longname, &r), 0);
}
END_TEST

START_TEST(test_requests_format_and_parse_back)
{
    portmap_request_t in = { .verb = PORTMAP_REGISTER, .port = 4369 }, out;
    strcpy(in.name, "nemomq");
    char buf[PORTMAP_LINE_MAX];
    int n = portmap_format_request(&in, buf, sizeof buf);
    ck_assert_str_eq(buf, "REGISTER nemomq 4369\n");
    ck_assert_int_eq(n, (int)strlen(buf));
    ck_assert_int_eq(s_req("REGISTER nemomq 4369", &out), 0);
    ck_assert_int_eq(out.verb, in.verb);
    ck_assert_str_eq(out.name, in.name);
    ck_assert_int_eq(out.port, in.port);
    in.verb = PORTMAP_LOOKUP;
    portmap_format_request(&in, buf, sizeof buf);
    ck_assert_str_eq(buf, "LOOKUP nemomq\n");
    in.verb = PORTMAP_NAMES;
    portmap_format_request(&in, buf, sizeof buf);
    ck_assert_str_eq(buf, "NAMES\n");
    ck_assert_int_eq(portmap_format_request(&in, buf, 3), -1);
}
END_TEST

static int s_reply(const char *line, portmap_reply_t *r) { return portmap_parse_reply(line, strlen(line), r); }

START_TEST(test_replies_parse)
{
    portmap_reply_t r;
    ck_assert_int_eq(s_reply("OK", &r), 0);
    ck_assert_int_eq(r.kind, PORTMAP_R_OK);
    ck_assert_int_eq(s_reply("PORT 44053", &r), 0);
    ck_assert_int_eq(r.kind, PORTMAP_R_PORT);
    ck_assert_int_eq(r.port, 44053);
    ck_assert_int_eq(s_reply("NAME c2 1883", &r), 0);
    ck_assert_int_eq(r.kind, PORTMAP_R_NAME);
    ck_assert_str_eq(r.name, "c2");
    ck_assert_int_eq(r.port, 1883);
    ck_assert_int_eq(s_reply("END", &r), 0);
    ck_assert_int_eq(r.kind, PORTMAP_R_END);
    ck_assert_int_eq(s_reply("PONG", &r), 0);
    ck_assert_int_eq(s_reply("ERR name in use", &r), 0);
    ck_assert_int_eq(r.kind, PORTMAP_R_ERR);
    ck_assert_str_eq(r.text, "name in use");
    ck_assert_int_eq(s_reply("ERR", &r), 0);
    ck_assert_str_eq(r.text, "");
    static const char *const bad[] = { "", "ok", "PORT", "PORT 0", "PORT x", "NAME c2", "NAME c@2 1",
                                       "OKAY", "END now", "\x83\x01\x00" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(s_reply(bad[i], &r) < 0, "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(test_line_framing)
{
    size_t len, used;
    ck_assert_int_eq(portmap_next_line("NAMES", 5, &len, &used), 0);
    ck_assert_int_eq(portmap_next_line("NAMES\nPING\n", 11, &len, &used), 1);
    ck_assert_uint_eq(len, 5);
    ck_assert_uint_eq(used, 6);
    ck_assert_int_eq(portmap_next_line("PING\r\n", 6, &len, &used), 1);
    ck_assert_uint_eq(len, 4);
    ck_assert_uint_eq(used, 6);
    ck_assert_int_eq(portmap_next_line("\n", 1, &len, &used), 1);
    ck_assert_uint_eq(len, 0);
    char big[PORTMAP_LINE_MAX + 8];
    memset(big, 'A', sizeof big);
    ck_assert_int_eq(portmap_next_line(big, PORTMAP_LINE_MAX, &len, &used), 0);   /* may still end */
    ck_assert_int_eq(portmap_next_line(big, PORTMAP_LINE_MAX + 1, &len, &used), -1);
    big[PORTMAP_LINE_MAX + 1] = '\n';
    ck_assert_int_eq(portmap_next_line(big, PORTMAP_LINE_MAX + 2, &len, &used), -1);
    big[PORTMAP_LINE_MAX] = '\n';
    ck_assert_int_eq(portmap_next_line(big, PORTMAP_LINE_MAX + 1, &len, &used), 1);
}
END_TEST

START_TEST(test_nodenames_split)
{
    char name[PORTMAP_NAME_MAX + 1], host[256];
    ck_assert_int_eq(portmap_split_nodename("c1@127.0.0.1", name, sizeof name, host, sizeof host), 0);
    ck_assert_str_eq(name, "c1");
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_int_eq(portmap_split_nodename("nemomq@::1", name, sizeof name, host, sizeof host), 0);
    ck_assert_str_eq(host, "::1");
    static const char *const bad[] = { "c1", "@host", "c1@", "a@b@c", "c.1@host", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(portmap_split_nodename(bad[i], name, sizeof name, host, sizeof host) < 0, "'%s'", bad[i]);
    ck_assert_int_lt(portmap_split_nodename("abc@h", name, 3, host, sizeof host), 0);
    ck_assert(portmap_name_valid("a-b_C9", 6));
    ck_assert(!portmap_name_valid("", 0));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cluster_portmap");
    TCase *tc = tcase_create("protocol");
    tcase_add_test(tc, test_requests_parse);
    tcase_add_test(tc, test_bad_requests_are_refused);
    tcase_add_test(tc, test_requests_format_and_parse_back);
    tcase_add_test(tc, test_replies_parse);
    tcase_add_test(tc, test_line_framing);
    tcase_add_test(tc, test_nodenames_split);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

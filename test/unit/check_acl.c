/* check_acl — unit tests of the ACL module (nmq_acl).
 *
 * What an operator writes in vmq.acl and what each client may then do:
 * sections for everyone, for one user and patterns, read/write, wildcards,
 * subscription filters checked against rule filters (coverage, not mere
 * matching), and substituted values that try to smuggle in a wildcard or a
 * level separator.  The file-watching rules are shared with nmq_passwd and
 * tested at length in check_passwd; here only that an ACL file goes through
 * them.  Run from the repository root.
 */
#include "nmq_acl.h"
#include "auth_files.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define R NMQ_ACL_READ
#define W NMQ_ACL_WRITE

static nmq_acl_t *s_acl(const char *text)
{
    nmq_acl_t *acl = nmq_acl_new(NULL);
    char err[512];
    ck_assert_msg(nmq_acl_load_string(acl, text, "vmq.acl", err, sizeof err) == 0, "%s", err);
    return acl;
}

/* Load text into acl; "" when it loaded, else the error. */
static const char *s_load(nmq_acl_t *acl, const char *text)
{
    static char err[512];
    if (nmq_acl_load_string(acl, text, "vmq.acl", err, sizeof err) == 0)
        err[0] = '\0';
    else
        ck_assert_msg(err[0], "a failed load must say why");
    return err;
}

/* The checks of one client: (client id, username or NULL, mountpoint). */
typedef struct {
    const char *client_id, *user, *mountpoint;
} s_who_t;

static bool s_may(const nmq_acl_t *acl, s_who_t who, const char *topic, nmq_acl_access_t access)
{
    return nmq_acl_check(acl, who.client_id, who.user, who.mountpoint, topic, access);
}

#define ALLOWED(acl, who, topic, access) \
    ck_assert_msg(s_may(acl, who, topic, access), "%s %s must be allowed", #access, topic)
#define DENIED(acl, who, topic, access) \
    ck_assert_msg(!s_may(acl, who, topic, access), "%s %s must be denied", #access, topic)

static const s_who_t s_anon = { "anon-client", NULL, "" };
static const s_who_t s_alice = { "alice-phone", "alice", "" };
static const s_who_t s_bob = { "bob-laptop", "bob", "" };

START_TEST(test_default_file_allows_everything)
{
    nmq_acl_t *acl = s_acl("# VerneMQ's shipped vmq.acl\ntopic #\n");
    ck_assert_uint_eq(nmq_acl_count(acl), 1);
    const s_who_t who[] = { s_anon, s_alice };
    for (size_t i = 0; i < 2; i++) {
        ALLOWED(acl, who[i], "a/b/c", W);
        ALLOWED(acl, who[i], "a/b/c", R);
        ALLOWED(acl, who[i], "#", R);
        ALLOWED(acl, who[i], "+/x", R);
        ALLOWED(acl, who[i], "$SYS/broker", R);    /* no special case for $, as VerneMQ */
    }
    nmq_acl_destroy(&acl);
    ck_assert_ptr_null(acl);
}
END_TEST

START_TEST(test_nothing_loaded_denies_everything)
{
    nmq_acl_t *acl = nmq_acl_new(NULL);
    DENIED(acl, s_alice, "a", R);
    DENIED(acl, s_anon, "a", W);
    ck_assert_str_eq(s_load(acl, "# only comments\n\n   \n"), "");
    ck_assert_uint_eq(nmq_acl_count(acl), 0);
    DENIED(acl, s_alice, "a", R);
    nmq_acl_destroy(&acl);
    nmq_acl_destroy(&acl);
}
END_TEST

START_TEST(test_everyone_and_user_sections)
{
    nmq_acl_t *acl = s_acl(
        "topic read public/#\n"
        "topic write public/anon\n"
        "user alice\n"
        "topic alice/#\n"
        "topic read shared/+/status\n"
        "user bob\n"
        "topic write bob/out\n"
        "user alice\n"              /* a second section for the same user adds to it */
        "topic read extra\n");
    ck_assert_uint_eq(nmq_acl_count(acl), 6);
    /* before any user line: everyone, anonymous included */
    ALLOWED(acl, s_anon, "public/news", R);
    DENIED(acl, s_anon, "public/news", W);
    ALLOWED(acl, s_anon, "public/anon", W);
    ALLOWED(acl, s_alice, "public/news", R);
    ALLOWED(acl, s_bob, "public/anon", W);
    DENIED(acl, s_anon, "alice/x", R);
    /* alice's section: hers alone */
    ALLOWED(acl, s_alice, "alice/x", R);
    ALLOWED(acl, s_alice, "alice/x/y", W);
    ALLOWED(acl, s_alice, "alice", W);          /* "alice/#" matches its parent */
    ALLOWED(acl, s_alice, "shared/7/status", R);
    DENIED(acl, s_alice, "shared/7/status", W);
    ALLOWED(acl, s_alice, "extra", R);
    DENIED(acl, s_alice, "bob/out", W);
    /* bob's */
    ALLOWED(acl, s_bob, "bob/out", W);
    DENIED(acl, s_bob, "bob/out", R);
    DENIED(acl, s_bob, "alice/x", R);
    DENIED(acl, s_bob, "extra", R);
    /* the section is picked by username, exactly */
    DENIED(acl, ((s_who_t){ "alice", NULL, "" }), "alice/x", R);  /* a client id is not a user */
    DENIED(acl, ((s_who_t){ "c", "Alice", "" }), "alice/x", R);
    DENIED(acl, ((s_who_t){ "c", "alice2", "" }), "alice/x", R);
    DENIED(acl, ((s_who_t){ "c", "alic", "" }), "alice/x", R);
    nmq_acl_destroy(&acl);
}
END_TEST

START_TEST(test_read_write_keywords)
{
    nmq_acl_t *acl = s_acl(
        "topic read r\n"
        "topic write w\n"
        "topic readwrite rw\n"
        "topic both\n"
        "topic read\n"              /* one word: the topic "read", both ways */
        "topic\tread\ttabs/x\n"
        "topic read with space/x  \n");
    ALLOWED(acl, s_anon, "r", R);
    DENIED(acl, s_anon, "r", W);
    ALLOWED(acl, s_anon, "w", W);
    DENIED(acl, s_anon, "w", R);
    ALLOWED(acl, s_anon, "rw", R);
    ALLOWED(acl, s_anon, "rw", W);
    ALLOWED(acl, s_anon, "both", R);
    ALLOWED(acl, s_anon, "both", W);
    ALLOWED(acl, s_anon, "read", W);
    ALLOWED(acl, s_anon, "tabs/x", R);
    DENIED(acl, s_anon, "tabs/x", W);
    ALLOWED(acl, s_anon, "with space/x", R);   /* MQTT topics may hold spaces */
    DENIED(acl, s_anon, "with space/x  ", R);
    nmq_acl_destroy(&acl);
}
END_TEST

START_TEST(test_patterns_substitute_whole_levels)
{
    nmq_acl_t *acl = s_acl(
        "pattern read sensors/%c/#\n"
        "pattern write %m/users/%u/out\n"
        "pattern devices/%u/%c\n"
        "pattern read literal/x%c/%c%u\n"   /* not whole levels: plain text, as VerneMQ */
        "topic read notpattern/%c\n"        /* topic lines never substitute */
        "user bob\n"
        "pattern read owned/%u\n");         /* a pattern applies to all, wherever it is */
    s_who_t c1 = { "c1", "u1", "" }, tenant = { "c1", "u1", "tenant" };
    ALLOWED(acl, c1, "sensors/c1/temp", R);
    ALLOWED(acl, c1, "sensors/c1", R);
    DENIED(acl, c1, "sensors/c1/temp", W);
    DENIED(acl, c1, "sensors/c2/temp", R);
    ALLOWED(acl, c1, "/users/u1/out", W);          /* the default mountpoint is "" */
    DENIED(acl, c1, "tenant/users/u1/out", W);
    ALLOWED(acl, tenant, "tenant/users/u1/out", W);
    DENIED(acl, tenant, "/users/u1/out", W);
    DENIED(acl, tenant, "tenant/users/u2/out", W);
    ALLOWED(acl, ((s_who_t){ "c1", "u1", NULL }), "/users/u1/out", W);   /* NULL is "" */
    ALLOWED(acl, c1, "devices/u1/c1", R);
    ALLOWED(acl, c1, "devices/u1/c1", W);
    DENIED(acl, c1, "devices/u1/c2", W);
    DENIED(acl, c1, "devices/u2/c1", W);
    DENIED(acl, c1, "literal/xc1/c1u1", R);
    ALLOWED(acl, c1, "literal/x%c/%c%u", R);
    DENIED(acl, c1, "notpattern/c1", R);
    ALLOWED(acl, c1, "notpattern/%c", R);
    ALLOWED(acl, s_alice, "owned/alice", R);
    DENIED(acl, s_alice, "owned/bob", R);
    /* anonymous: patterns without %u apply, patterns with %u do not */
    ALLOWED(acl, s_anon, "sensors/anon-client/x", R);
    DENIED(acl, s_anon, "devices//anon-client", R);
    DENIED(acl, s_anon, "owned/", R);
    nmq_acl_destroy(&acl);
}
END_TEST

/* Does an ACL of the one line "topic read <rule>" let a client subscribe to filter? */
START_TEST(test_subscription_filter_coverage)
{
    static const struct {
        const char *filter, *rule;
        bool allowed;
    } cases[] = {
        { "a/b", "a/b", true },
        { "a/b", "a/+", true },
        { "a/b", "a/#", true },
        { "a", "a/#", true },           /* "a/#" matches "a" itself */
        { "a/b", "a/b/c", false },
        { "a/b/c", "a/+", false },
        { "a", "a/+", false },
        { "a/+", "a/+", true },         /* a filter equal to the rule */
        { "a/+", "a/#", true },         /* or covered by it */
        { "a/+", "#", true },
        { "a/+", "a/b", false },        /* a/+ would also get a/c */
        { "+/b", "a/b", false },
        { "+", "+", true },
        { "+", "#", true },
        { "a/+/c", "a/+/c", true },
        { "a/+/c", "a/b/c", false },
        { "a/#", "a/#", true },
        { "a/#", "#", true },
        { "#", "#", true },
        { "#", "a/#", false },
        { "#", "+", false },
        { "a/#", "a/+", false },        /* VerneMQ allows this one; it would widen */
        { "a/#", "a/+/#", false },      /* a/# gets "a", which a/+/# does not */
        { "a/b/#", "a/+/#", true },
        { "a/+/#", "a/+/#", true },
        { "a/+/#", "a/b/#", false },
        { "/a", "+/a", true },          /* an empty first level is a level */
        { "a//b", "a/+/b", true },
        { "a//b", "a/b", false },
        { "a/", "a/+", true },
        { "$SYS/#", "#", true },
        { "$SYS/x", "+/x", true },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "topic read %s\n", cases[i].rule);
        nmq_acl_t *acl = s_acl(text);
        ck_assert_msg(s_may(acl, s_alice, cases[i].filter, R) == cases[i].allowed,
                      "subscribe %s with rule %s: want %s", cases[i].filter, cases[i].rule,
                      cases[i].allowed ? "allowed" : "denied");
        DENIED(acl, s_alice, cases[i].filter, W);
        nmq_acl_destroy(&acl);
    }
}
END_TEST

START_TEST(test_substituted_values_do_not_widen)
{
    nmq_acl_t *acl = s_acl(
        "pattern read c/%c\n"
        "pattern read u/%u/x\n"
        "pattern read m/%m\n"
        "pattern write deep/%c/end\n");
    /* a client id "+" or "#" is a name, not a wildcard */
    s_who_t plus = { "+", "+", "+" }, hash = { "#", "#", "#" };
    DENIED(acl, plus, "c/+", R);
    DENIED(acl, plus, "c/anything", R);
    DENIED(acl, plus, "u/+/x", R);
    DENIED(acl, plus, "u/bob/x", R);
    DENIED(acl, plus, "m/+", R);
    DENIED(acl, plus, "m/tenant", R);
    DENIED(acl, hash, "c/#", R);
    DENIED(acl, hash, "c/a/b", R);
    DENIED(acl, hash, "c", R);
    DENIED(acl, hash, "u/#", R);
    DENIED(acl, hash, "u/a/x", R);
    DENIED(acl, hash, "m/#", R);
    DENIED(acl, hash, "deep/#", W);
    /* wildcards inside a value */
    s_who_t mixed = { "a+", "b#", "c+#" };
    DENIED(acl, mixed, "c/a+", R);
    DENIED(acl, mixed, "u/b#/x", R);
    /* a "/" in a value cannot add or remove levels */
    s_who_t slash = { "x/y", "p/q", "m/n" };
    DENIED(acl, slash, "c/x/y", R);
    DENIED(acl, slash, "c/x", R);
    DENIED(acl, slash, "u/p/q/x", R);
    DENIED(acl, slash, "u/p/x", R);
    DENIED(acl, slash, "m/m/n", R);
    DENIED(acl, slash, "deep/x/y/end", W);
    s_who_t up = { "..", "..", "" };        /* no path tricks either: ".." is a name */
    ALLOWED(acl, up, "c/..", R);
    DENIED(acl, up, "c", R);
    /* an empty client id or username gets no pattern (an empty mountpoint is normal) */
    s_who_t empty = { "", "", "" };
    DENIED(acl, empty, "c/", R);
    DENIED(acl, empty, "u//x", R);
    ALLOWED(acl, empty, "m/", R);
    /* the same clients with ordinary names get exactly their own topic */
    s_who_t ok = { "dev1", "bob", "tenant" };
    ALLOWED(acl, ok, "c/dev1", R);
    DENIED(acl, ok, "c/+", R);               /* their own id is not a licence for + */
    DENIED(acl, ok, "c/#", R);
    ALLOWED(acl, ok, "u/bob/x", R);
    ALLOWED(acl, ok, "m/tenant", R);
    ALLOWED(acl, ok, "deep/dev1/end", W);
    DENIED(acl, ok, "deep/dev1/end", R);
    nmq_acl_destroy(&acl);
}
END_TEST

START_TEST(test_user_section_names_are_literal)
{
    /* a `user +` section is for the user called "+", not for everybody */
    nmq_acl_t *acl = s_acl("user +\ntopic plus/#\nuser #\ntopic hash/#\n");
    ALLOWED(acl, ((s_who_t){ "c", "+", "" }), "plus/x", R);
    DENIED(acl, s_alice, "plus/x", R);
    ALLOWED(acl, ((s_who_t){ "c", "#", "" }), "hash/x", R);
    DENIED(acl, s_alice, "hash/x", R);
    DENIED(acl, s_anon, "plus/x", R);
    nmq_acl_destroy(&acl);
}
END_TEST

START_TEST(test_bad_lines_name_the_line)
{
    static const struct {
        const char *text;
        const char *error;
    } cases[] = {
        { "topic\n", "vmq.acl:1: topic: missing topic" },
        { "pattern read\n", "" },                    /* the topic "read": valid */
        { "# c\n\nfrob a/b\n", "vmq.acl:3: unknown line 'frob'" },
        { "topics a/b\n", "vmq.acl:1: unknown line 'topics'" },
        { "topic a/#/b\n", "vmq.acl:1: '#' must be the last level of 'a/#/b'" },
        { "topic read a/b+\n", "vmq.acl:1: '+' and '#' must be whole levels in 'a/b+'" },
        { "topic a#\n", "vmq.acl:1: '+' and '#' must be whole levels" },
        { "topic ok\npattern write +x/%c\n", "vmq.acl:2: '+' and '#' must be whole levels" },
        { "pattern deny a/b\n", "vmq.acl:1: 'deny' is not supported" },
        { "topic ok\nuser\n", "vmq.acl:2: user: missing username" },
        { "user bob\r\ntopic ok\r\ntopic x/#/y\r\n", "vmq.acl:3: '#' must be the last level" },
    };
    nmq_acl_t *acl = nmq_acl_new(NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *err = s_load(acl, cases[i].text);
        if (!cases[i].error[0])
            ck_assert_msg(!err[0], "case %zu: unexpected error '%s'", i, err);
        else
            ck_assert_msg(strstr(err, cases[i].error), "case %zu: got '%s', want '%s'", i, err,
                          cases[i].error);
    }
    nmq_acl_destroy(&acl);
}
END_TEST

START_TEST(test_failed_load_keeps_last_good)
{
    nmq_acl_t *acl = s_acl("topic read a/#\nuser alice\ntopic write alice/#\n");
    ck_assert_uint_eq(nmq_acl_count(acl), 2);
    /* valid lines before the bad one are not taken either */
    ck_assert_ptr_nonnull(strstr(s_load(acl, "topic #\nuser bob\ntopic bob/#/x\n"), "vmq.acl:3:"));
    ck_assert_uint_eq(nmq_acl_count(acl), 2);
    ALLOWED(acl, s_alice, "alice/1", W);
    ALLOWED(acl, s_anon, "a/1", R);
    DENIED(acl, s_anon, "b", R);
    DENIED(acl, s_bob, "bob/1", W);
    nmq_acl_destroy(&acl);
}
END_TEST

START_TEST(test_odd_questions_are_denied)
{
    nmq_acl_t *acl = s_acl("topic #\n");
    DENIED(acl, s_alice, "", R);
    ck_assert(!s_may(acl, s_alice, NULL, W));
    nmq_acl_destroy(&acl);
}
END_TEST

START_TEST(test_reload_from_file)
{
    char dir[64], path[128], err[512];
    auth_tmpdir(dir, sizeof dir, "check_acl");
    snprintf(path, sizeof path, "%s/vmq.acl", dir);
    auth_write(path, "topic read a/#\n", 10);
    nmq_acl_t *acl = nmq_acl_new(path);
    ck_assert_msg(nmq_acl_load(acl, err, sizeof err) == 0, "%s", err);
    ALLOWED(acl, s_anon, "a/1", R);
    ck_assert_int_eq(nmq_acl_reload(acl, err, sizeof err), 0);
    auth_write(path, "topic read a/#\ntopic write b\n", 10);
    ck_assert_int_eq(nmq_acl_reload(acl, err, sizeof err), 1);
    ALLOWED(acl, s_anon, "b", W);
    auth_write(path, "topic read a/#\ntopic write b\nbogus\n", 10);
    ck_assert_int_eq(nmq_acl_reload(acl, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "vmq.acl:3: unknown line 'bogus'"), "%s", err);
    ck_assert_int_eq(nmq_acl_reload(acl, err, sizeof err), 0);   /* said once */
    ALLOWED(acl, s_anon, "b", W);
    unlink(path);
    ck_assert_int_eq(nmq_acl_reload(acl, err, sizeof err), -1);
    ALLOWED(acl, s_anon, "b", W);
    auth_write(path, "topic write c\n", 10);
    ck_assert_int_eq(nmq_acl_reload(acl, err, sizeof err), 1);
    DENIED(acl, s_anon, "b", W);
    ALLOWED(acl, s_anon, "c", W);
    nmq_acl_destroy(&acl);
    auth_rm_rf(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("acl");
    TCase *tc = tcase_create("acl");
    tcase_add_test(tc, test_default_file_allows_everything);
    tcase_add_test(tc, test_nothing_loaded_denies_everything);
    tcase_add_test(tc, test_everyone_and_user_sections);
    tcase_add_test(tc, test_read_write_keywords);
    tcase_add_test(tc, test_patterns_substitute_whole_levels);
    tcase_add_test(tc, test_subscription_filter_coverage);
    tcase_add_test(tc, test_substituted_values_do_not_widen);
    tcase_add_test(tc, test_user_section_names_are_literal);
    tcase_add_test(tc, test_bad_lines_name_the_line);
    tcase_add_test(tc, test_failed_load_keeps_last_good);
    tcase_add_test(tc, test_odd_questions_are_denied);
    tcase_add_test(tc, test_reload_from_file);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

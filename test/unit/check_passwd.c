/* check_passwd — unit tests of the password file module (nmq_passwd) and
 * the file-watching rules it shares with nmq_acl (nmq_authfile).
 *
 * The hashes are checked against answers computed elsewhere, never against
 * the C code itself: test/data/passwd-vectors.txt was written by python3's
 * hashlib, and files written by Debian's mosquitto_passwd ($7$ by default,
 * $6$ with -H sha512, VerneMQ's format) are read when that tool is present.
 * The reload tests date files back with utimensat, because a file modified
 * in the last second is left for the next poll.  Run from the repository root.
 */
#include "nmq_passwd.h"
#include "auth_files.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define VECTORS "test/data/passwd-vectors.txt"

/* The v6-simple and v7-simple vectors: password "secret", salt bytes 0..11. */
#define D6 "JqsxEv/ucyxjA5DKsQ+Y8CDWaQDNQI9FpAkmfwAqWfwZLk/JEGgM0EpylrJHAZKKyFQjJeZ3nFaHjPzOzPPmPw=="
#define D7 "Xr99N9ym9ys8TWxis5ajETJq6EVYzmc6nb8t3pUYnPBbCAbICS4xejTltonXWCtJNBvA+By+TXUqU6qCblO00w=="
#define H6 "$6$AAECAwQFBgcICQoL$" D6
#define H7 "$7$101$AAECAwQFBgcICQoL$" D7

static const struct {
    const char *user;
    const char *password;
} s_vectors[] = {
    { "v6-simple", "secret" },
    { "v6-utf8", "pässwörd✓" },
    { "v6-colon", "a:b$c d" },
    { "v6-long", 
      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" },
    { "v6-empty", "" },
    { "v6-salt16", "salt of sixteen" },
    { "v7-simple", "secret" },
    { "v7-1000", "correct horse battery staple" },
};
#define NVECTORS (sizeof s_vectors / sizeof s_vectors[0])

static nmq_passwd_result_t s_check(const nmq_passwd_t *pw, const char *user, const char *password)
{
    return nmq_passwd_check(pw, user, password, password ? strlen(password) : 0);
}

/* Load text; when it loaded, else the error. */
static const char *s_load(nmq_passwd_t *pw, const char *text)
{
    static char err[1024];
    err[0] = '\0';
    if (nmq_passwd_load_string(pw, text, "vmq.passwd", err, sizeof err) < 0)
        ck_assert_msg(err[0], "a failed load must say why");
    else
        err[0] = '\0';
    return err;
}

START_TEST(test_python_vectors)
{
    nmq_passwd_t *pw = nmq_passwd_new(VECTORS);
    char err[512];
    ck_assert_msg(nmq_passwd_load(pw, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(nmq_passwd_count(pw), NVECTORS);
    for (size_t i = 0; i < NVECTORS; i++) {
        const char *u = s_vectors[i].user, *p = s_vectors[i].password;
        ck_assert_msg(s_check(pw, u, p) == NMQ_PASSWD_OK, "%s", u);
        ck_assert_msg(s_check(pw, u, "wrong") == NMQ_PASSWD_DENIED, "%s", u);
        /* one byte more or less is another password */
        char longer[400];
        snprintf(longer, sizeof longer, "%s!", p);
        ck_assert_int_eq(s_check(pw, u, longer), NMQ_PASSWD_DENIED);
        if (*p)
            ck_assert_int_eq(nmq_passwd_check(pw, u, p, strlen(p) - 1), NMQ_PASSWD_DENIED);
    }
    ck_assert_int_eq(s_check(pw, "nobody", "secret"), NMQ_PASSWD_UNKNOWN);
    ck_assert_int_eq(s_check(pw, "V6-SIMPLE", "secret"), NMQ_PASSWD_UNKNOWN);  /* case matters */
    nmq_passwd_destroy(&pw);
    ck_assert_ptr_null(pw);
}
END_TEST

START_TEST(test_writer_matches_python)
{
    /* the same salt as the v6-simple vector gives the very same line */
    unsigned char salt[12];
    for (int i = 0; i < 12; i++)
        salt[i] = (unsigned char)i;
    char out[NMQ_PASSWD_HASH_MAX];
    nmq_passwd_hash_salted("secret", 6, salt, sizeof salt, out);
    ck_assert_str_eq(out, "$6$AAECAwQFBgcICQoL$JqsxEv/ucyxjA5DKsQ+Y8CDWaQDNQI9FpAkmfwAqWfwZLk/"
                          "JEGgM0EpylrJHAZKKyFQjJeZ3nFaHjPzOzPPmPw==");
    ck_assert(nmq_passwd_is_hash(out));
}
END_TEST

START_TEST(test_fresh_hash_round_trip)
{
    char a[NMQ_PASSWD_HASH_MAX], b[NMQ_PASSWD_HASH_MAX], err[256];
    const char binary[] = { 'a', '\0', 'b' };    /* MQTT passwords are bytes */
    ck_assert_int_eq(nmq_passwd_hash(binary, sizeof binary, a, err, sizeof err), 0);
    ck_assert_int_eq(nmq_passwd_hash(binary, sizeof binary, b, err, sizeof err), 0);
    ck_assert_str_ne(a, b);                      /* a fresh salt each time */
    ck_assert_int_eq(strncmp(a, "$6$", 3), 0);
    ck_assert_uint_eq(strlen(a), 3 + 16 + 1 + 88);
    char text[512];
    snprintf(text, sizeof text, "bin:%s\n", a);
    nmq_passwd_t *pw = nmq_passwd_new(NULL);
    ck_assert_str_eq(s_load(pw, text), "");
    ck_assert_int_eq(nmq_passwd_check(pw, "bin", binary, sizeof binary), NMQ_PASSWD_OK);
    ck_assert_int_eq(nmq_passwd_check(pw, "bin", "a", 1), NMQ_PASSWD_DENIED);
    nmq_passwd_destroy(&pw);
}
END_TEST

/* Run argv; its exit status, or -1 when it could not be started. */
static int s_run(char *const argv[])
{
    pid_t pid;
    if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
        return -1;
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_mosquitto_passwd_files)
{
    char dirbuf[64], path[128], *dir = auth_tmpdir(dirbuf, sizeof dirbuf, "check_passwd");
    snprintf(path, sizeof path, "%s/mosquitto.passwd", dir);
    char *create7[] = { "mosquitto_passwd", "-c", "-b", path, "seven", "pw seven", NULL };
    if (s_run(create7) != 0) {
        fprintf(stderr, "check_passwd: SKIP test_mosquitto_passwd_files: "
                        "mosquitto_passwd not found (apt-get install mosquitto)\n");
        auth_rm_rf(dir);
        return;
    }
    char *add6[] = { "mosquitto_passwd", "-H", "sha512", "-b", path, "six", "pw:six", NULL };
    ck_assert_int_eq(s_run(add6), 0);
    char *add7[] = { "mosquitto_passwd", "-b", path, "utf8", "grüße", NULL };
    ck_assert_int_eq(s_run(add7), 0);
    nmq_passwd_t *pw = nmq_passwd_new(path);
    char err[512];
    ck_assert_msg(nmq_passwd_load(pw, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(nmq_passwd_count(pw), 3);
    ck_assert_int_eq(s_check(pw, "seven", "pw seven"), NMQ_PASSWD_OK);
    ck_assert_int_eq(s_check(pw, "seven", "pw  seven"), NMQ_PASSWD_DENIED);
    ck_assert_int_eq(s_check(pw, "six", "pw:six"), NMQ_PASSWD_OK);
    ck_assert_int_eq(s_check(pw, "six", "pw"), NMQ_PASSWD_DENIED);
    ck_assert_int_eq(s_check(pw, "utf8", "grüße"), NMQ_PASSWD_OK);
    ck_assert_int_eq(s_check(pw, "utf8", "grusse"), NMQ_PASSWD_DENIED);
    nmq_passwd_destroy(&pw);
    auth_rm_rf(dir);
}
END_TEST

START_TEST(test_bad_lines_name_the_line)
{
    static const struct {
        const char *text;
        const char *error;
    } cases[] = {
        { "alice\n", "vmq.passwd:1: expected username:hash" },
        { "# users\n\nalice:topsecret\n",
          "vmq.passwd:3: user 'alice': not a $6$ or $7$ password hash" },
        { ":" H6 "\n", "vmq.passwd:1: empty username" },
        { "a:$6$!!!!$" D6 "\n", "vmq.passwd:1: user 'a': salt is not base64" },
        { "a:$6$$" D6 "\n", "vmq.passwd:1: user 'a': salt is not base64" },
        { "\n\na:$6$AAECAwQFBgcICQoL$JqsxEv/ucyxj\n",
          "vmq.passwd:3: user 'a': hash is not base64 of a 64-byte" },
        { "a:$6$AAECAwQFBgcICQoL\n", "vmq.passwd:1: user 'a': not a $6$ or $7$" },
        { "a:$6$AAECAwQFBgcICQoL$x$y\n", "vmq.passwd:1: user 'a': not a $6$ or $7$" },
        { "a:$5$AAECAwQFBgcICQoL$JqsxEv\n", "vmq.passwd:1: user 'a': not a $6$ or $7$" },
        { "a:$7$0$AAECAwQFBgcICQoL$" D7 "\n",
          "vmq.passwd:1: user 'a': $7$ iteration count is not a number" },
        { "a:$7$x$AAECAwQFBgcICQoL$" D7 "\n",
          "vmq.passwd:1: user 'a': $7$ iteration count is not a number" },
        { "a:$7$99999999999$AAECAwQFBgcICQoL$" D7 "\n",
          "vmq.passwd:1: user 'a': $7$ iteration count is not a number" },
        { "a:x" H6 "\n", "vmq.passwd:1: user 'a': not a $6$ or $7$" },
    };
    nmq_passwd_t *pw = nmq_passwd_new(NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *err = s_load(pw, cases[i].text);
        ck_assert_msg(strstr(err, cases[i].error), "case %zu: got '%s', want '%s'", i, err,
                      cases[i].error);
        ck_assert_msg(!strstr(err, "topsecret"), "a clear-text password leaked into '%s'", err);
    }
    nmq_passwd_destroy(&pw);
}
END_TEST

START_TEST(test_layout_comments_crlf_duplicates)
{
    nmq_passwd_t *pw = nmq_passwd_new(NULL);
    /* comments, blank lines, CRLF, blanks around the line; a user listed
     * twice takes the last line, as in VerneMQ */
    char later[NMQ_PASSWD_HASH_MAX], text[1024];
    nmq_passwd_hash_salted("later", 5, (const unsigned char *)"0123456789ab", 12, later);
    snprintf(text, sizeof text,
             "# VerneMQ password file\r\n"
             "\r\n"
             "  v6-simple:" H6 "  \r\n"
             "twice:" H7 "\n"
             "twice:%s", later);
    ck_assert_str_eq(s_load(pw, text), "");
    ck_assert_uint_eq(nmq_passwd_count(pw), 2);
    ck_assert_int_eq(s_check(pw, "v6-simple", "secret"), NMQ_PASSWD_OK);
    ck_assert_int_eq(s_check(pw, "twice", "secret"), NMQ_PASSWD_DENIED);
    ck_assert_int_eq(s_check(pw, "twice", "later"), NMQ_PASSWD_OK);
    /* an empty file is a valid file with nobody in it */
    ck_assert_str_eq(s_load(pw, ""), "");
    ck_assert_uint_eq(nmq_passwd_count(pw), 0);
    ck_assert_int_eq(s_check(pw, "twice", "secret"), NMQ_PASSWD_UNKNOWN);
    nmq_passwd_destroy(&pw);
}
END_TEST

START_TEST(test_missing_credentials_are_next)
{
    nmq_passwd_t *pw = nmq_passwd_new(VECTORS);
    char err[512];
    ck_assert_int_eq(nmq_passwd_load(pw, err, sizeof err), 0);
    ck_assert_int_eq(s_check(pw, NULL, "secret"), NMQ_PASSWD_UNKNOWN);
    ck_assert_int_eq(s_check(pw, "v6-simple", NULL), NMQ_PASSWD_UNKNOWN);
    /* a zero-length password is a password (MQTT allows it) */
    ck_assert_int_eq(nmq_passwd_check(pw, "v6-empty", "", 0), NMQ_PASSWD_OK);
    ck_assert_int_eq(nmq_passwd_check(pw, "v6-simple", "", 0), NMQ_PASSWD_DENIED);
    ck_assert_str_eq(nmq_passwd_result_str(NMQ_PASSWD_OK), "ok");
    ck_assert_str_eq(nmq_passwd_result_str(NMQ_PASSWD_DENIED), "bad password");
    ck_assert_str_eq(nmq_passwd_result_str(NMQ_PASSWD_UNKNOWN), "unknown user");
    nmq_passwd_destroy(&pw);
    nmq_passwd_destroy(&pw);     /* twice is harmless */
}
END_TEST

START_TEST(test_failed_load_keeps_last_good)
{
    nmq_passwd_t *pw = nmq_passwd_new(NULL);
    ck_assert_str_eq(s_load(pw, "v7-simple:" H7 "\n"), "");
    /* the second line is bad: nothing of this file is taken, not even line 1 */
    const char *bad = "new:" H6 "\n"
                      "broken\n";
    ck_assert_ptr_nonnull(strstr(s_load(pw, bad), ":2: "));
    ck_assert_uint_eq(nmq_passwd_count(pw), 1);
    ck_assert_int_eq(s_check(pw, "v7-simple", "secret"), NMQ_PASSWD_OK);
    ck_assert_int_eq(s_check(pw, "new", "secret"), NMQ_PASSWD_UNKNOWN);
    nmq_passwd_destroy(&pw);
}
END_TEST

START_TEST(test_reload_follows_the_file)
{
    static const char *line_a =
        "a:" H6 "\n";
    static const char *line_b =
        "b:" H7 "\n";
    char dirbuf[64], *dir = auth_tmpdir(dirbuf, sizeof dirbuf, "check_passwd");
    char path[128], next[128], err[512], text[1024];
    snprintf(path, sizeof path, "%s/vmq.passwd", dir);
    snprintf(next, sizeof next, "%s/vmq.passwd.new", dir);
    nmq_passwd_t *pw = nmq_passwd_new(path);

    /* no file yet: an error, reported once */
    ck_assert_int_eq(nmq_passwd_reload(pw, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "No such file"));
    ck_assert_int_eq(nmq_passwd_reload(pw, err, sizeof err), 0);
    ck_assert_int_eq(nmq_passwd_load(pw, err, sizeof err), -1);  /* forced: says it again */

    auth_write(path, line_a, 10);
    ck_assert_int_eq(nmq_passwd_reload(pw, err, sizeof err), 1);
    ck_assert_int_eq(s_check(pw, "a", "secret"), NMQ_PASSWD_OK);
    ck_assert_int_eq(nmq_passwd_reload(pw, err, sizeof err), 0);  /* unchanged */

    /* replaced by rename, as nemomq-passwd does */
    snprintf(text, sizeof text, "%s%s", line_a, line_b);
    auth_write(next, text, 10);
    ck_assert_int_eq(rename(next, path), 0);
    ck_assert_int_eq(nmq_passwd_reload(pw, err, sizeof err), 1);
    ck_assert_int_eq(s_check(pw, "b", "secret"), NMQ_PASSWD_OK);

    /* broken: kept, reported once, not again until the file changes */
    auth_write(path, "a:plain\n", 10);
    ck_assert_int_eq(nmq_passwd_reload(pw, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "vmq.passwd:1: user 'a'"));
    ck_assert_int_eq(nmq_passwd_reload(pw, err, sizeof err), 0);
    ck_assert_int_eq(s_check(pw, "a", "secret"), NMQ_PASSWD_OK);
    ck_assert_int_eq(s_check(pw, "b", "secret"), NMQ_PASSWD_OK);

    /* removed: kept */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(nmq_passwd_reload(pw, err, sizeof err), -1);
    ck_assert_int_eq(nmq_passwd_reload(pw, err, sizeof err), 0);
    ck_assert_int_eq(s_check(pw, "b", "secret"), NMQ_PASSWD_OK);

    /* a directory where the file should be: kept */
    ck_assert_int_eq(mkdir(path, 0700), 0);
    ck_assert_int_eq(nmq_passwd_reload(pw, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
    ck_assert_int_eq(rmdir(path), 0);

    /* a NUL byte (a binary file put there by mistake): kept */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_eq(write(fd, "a\0b\n", 4), 4);
    close(fd);
    ck_assert_int_eq(nmq_passwd_load(pw, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "NUL"));
    ck_assert_uint_eq(nmq_passwd_count(pw), 2);

    /* just written (less than a second ago): left for the next poll, which
     * may find it finished; a forced load reads it at once */
    auth_write(path, line_b, 0);
    ck_assert_int_eq(nmq_passwd_reload(pw, err, sizeof err), 0);
    ck_assert_uint_eq(nmq_passwd_count(pw), 2);
    auth_write(path, line_b, 10);
    ck_assert_int_eq(nmq_passwd_reload(pw, err, sizeof err), 1);
    ck_assert_uint_eq(nmq_passwd_count(pw), 1);
    ck_assert_int_eq(s_check(pw, "a", "secret"), NMQ_PASSWD_UNKNOWN);
    auth_write(path, line_a, 0);
    ck_assert_int_eq(nmq_passwd_load(pw, err, sizeof err), 0);
    ck_assert_int_eq(s_check(pw, "a", "secret"), NMQ_PASSWD_OK);

    nmq_passwd_destroy(&pw);
    auth_rm_rf(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("passwd");
    TCase *tc = tcase_create("passwd");
    tcase_add_test(tc, test_python_vectors);
    tcase_add_test(tc, test_writer_matches_python);
    tcase_add_test(tc, test_fresh_hash_round_trip);
    tcase_add_test(tc, test_mosquitto_passwd_files);
    tcase_add_test(tc, test_bad_lines_name_the_line);
    tcase_add_test(tc, test_layout_comments_crlf_duplicates);
    tcase_add_test(tc, test_missing_credentials_are_next);
    tcase_add_test(tc, test_failed_load_keeps_last_good);
    tcase_add_test(tc, test_reload_follows_the_file);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* nemomq-passwd — VerneMQ's vmq-passwd for nemomq's password file.
 *
 *   nemomq-passwd [-c | -D] passwordfile username
 *   nemomq-passwd -U passwordfile
 *
 * No option adds the user or changes its password; -c (or VerneMQ's -cf)
 * writes a new file holding only this user, replacing any; -D deletes the
 * user (a user that is not there is a warning, as in vmq-passwd); -U hashes
 * a file of clear-text "user:password" lines in place, leaving lines that are
 * already hashed alone.  The password is read twice without echo from a
 * terminal, or as one line from stdin otherwise (scripts: echo pw | ...).
 *
 * The file is always replaced whole (a temporary file next to it, fsync,
 * rename), so a node polling it never reads half of it; an existing file
 * keeps its mode and, for root, its owner; a new one is 0600.  Lines this
 * tool does not touch are copied as they are.  Hashes are VerneMQ's $6$
 * (nmq_passwd.h), salted from getrandom().  Exit status: 0 ok, 1 error,
 * 2 usage.
 */
#include "nmq_passwd.h"
#include "nmq_strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

enum { S_EXIT_OK = 0, S_EXIT_ERROR = 1, S_EXIT_USAGE = 2 };

#define S_PASSWORD_MAX 65535        /* the MQTT password field's limit */

static struct termios s_tty_saved;
static volatile sig_atomic_t s_tty_quiet;

static int s_usage(void)
{
    fprintf(stderr,
            "nemomq-passwd manages password files for nemomq (VerneMQ's vmq-passwd format).\n\n"
            "Usage: nemomq-passwd [-c | -D] passwordfile username\n"
            "       nemomq-passwd -U passwordfile\n"
            " -c : create a new password file with this user; an existing file is replaced\n"
            "      (-cf is taken too)\n"
            " -D : delete the user rather than adding it or changing its password\n"
            " -U : hash a file of clear-text user:password lines in place\n"
            "The password is read twice from the terminal, or as one line from stdin.\n");
    return S_EXIT_USAGE;
}

static int s_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int s_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("nemomq-passwd: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return S_EXIT_ERROR;
}

/* --- reading the password ------------------------------------------------------ */

static void s_restore_tty(int sig)
{
    if (s_tty_quiet)
        tcsetattr(STDIN_FILENO, TCSANOW, &s_tty_saved);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* One line from stdin into buf, without its end of line.  Read a byte at a
 * time so nothing past the line is left in a stdio buffer.  0 ok; -1 on EOF
 * before anything, an empty line or one too long. */
static int s_read_line(char *buf, size_t cap, size_t *len, const char **why)
{
    size_t n = 0;
    bool any = false;
    for (;;) {
        char c;
        ssize_t r = read(STDIN_FILENO, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        any = true;
        if (c == '\n')
            break;
        if (n + 1 >= cap) {
            *why = "password longer than 65535 bytes";
            return -1;
        }
        buf[n++] = c;
    }
    while (n && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    *len = n;
    if (!n) {
        *why = any ? "empty password" : "no password on stdin";
        return -1;
    }
    return 0;
}

static int s_prompt(const char *prompt, char *buf, size_t cap, size_t *len, const char **why)
{
    fputs(prompt, stderr);
    fflush(stderr);
    struct termios quiet = s_tty_saved;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    s_tty_quiet = 1;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    int rc = s_read_line(buf, cap, len, why);
    tcsetattr(STDIN_FILENO, TCSANOW, &s_tty_saved);
    s_tty_quiet = 0;
    fputc('\n', stderr);
    return rc;
}

/* The new password: twice from a terminal, once from anything else. */
static int s_get_password(char *pw, size_t *len)
{
    const char *why = NULL;
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &s_tty_saved) < 0)
        return s_read_line(pw, S_PASSWORD_MAX + 2, len, &why) < 0 ? s_fail("%s", why) : 0;
    signal(SIGINT, s_restore_tty);
    signal(SIGTERM, s_restore_tty);
    signal(SIGHUP, s_restore_tty);
    char *again = malloc(S_PASSWORD_MAX + 2);
    if (!again)
        return s_fail("out of memory");
    size_t len2 = 0;
    int rc = S_EXIT_OK;
    if (s_prompt("Password: ", pw, S_PASSWORD_MAX + 2, len, &why) < 0
        || s_prompt("Reenter password: ", again, S_PASSWORD_MAX + 2, &len2, &why) < 0)
        rc = s_fail("%s", why);
    else if (*len != len2 || memcmp(pw, again, len2))
        rc = s_fail("passwords do not match");
    OPENSSL_cleanse(again, S_PASSWORD_MAX + 2);
    free(again);
    return rc;
}

/* --- the file -------------------------------------------------------------------- */

/* Why a username cannot go into the file, or NULL. */
static const char *s_bad_username(const char *u)
{
    size_t n = strlen(u);
    if (!n)
        return "is empty";
    if (n > 65535)
        return "is longer than 65535 bytes";
    if (strchr(u, ':'))
        return "contains ':', the file's separator";
    if (u[0] == '#')
        return "starts with '#', which makes the line a comment";
    if (u[0] == ' ' || u[0] == '\t' || u[n - 1] == ' ' || u[n - 1] == '\t')
        return "starts or ends with a blank";
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return "contains a control character";
    return NULL;
}

static char *s_slurp(const char *path, int *errnum)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        *errnum = errno;
        return NULL;
    }
    nmq_strbuf_t b = { 0 };
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        nmq_strbuf_append(&b, chunk, n);
    *errnum = ferror(f) ? EIO : 0;
    fclose(f);
    if (*errnum) {
        nmq_strbuf_free(&b);
        return NULL;
    }
    return b.data ? nmq_strbuf_take(&b) : strdup("");
}

/* Replace path with text: temporary file in the same directory, fsync,
 * rename, fsync the directory.  A symlink is followed, not replaced. */
static int s_write_atomic(const char *path, const char *text, size_t len)
{
    char target[PATH_MAX];
    struct stat st;
    bool exists = realpath(path, target) != NULL && stat(target, &st) == 0;
    if (!exists && snprintf(target, sizeof target, "%s", path) >= (int)sizeof target)
        return s_fail("%s: path too long", path);
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.XXXXXX", target);
    int fd = mkostemp(tmp, O_CLOEXEC);     /* mode 0600 */
    if (fd < 0)
        return s_fail("cannot create a temporary file next to %s: %s", target, strerror(errno));
    const char *step = NULL;
    if (exists && fchmod(fd, st.st_mode & 07777) < 0)
        step = "chmod";
    else if (exists && geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) < 0)
        step = "chown";
    for (size_t off = 0; !step && off < len;) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno != EINTR)
            step = "write";
        else if (w > 0)
            off += (size_t)w;
    }
    if (!step && fsync(fd) < 0)
        step = "fsync";
    int e = errno;
    if (close(fd) < 0 && !step) {
        step = "close";
        e = errno;
    }
    if (!step && rename(tmp, target) < 0) {
        step = "rename";
        e = errno;
    }
    if (step) {
        unlink(tmp);
        return s_fail("cannot write %s (%s): %s", target, step, strerror(e));
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", target);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);     /* best effort: the rename is already visible */
        close(dfd);
    }
    return S_EXIT_OK;
}

/* The next line of *p (with its '\n', if any) as [start, start+len); advances *p. */
static bool s_next_line(const char **p, const char **start, size_t *len)
{
    if (!**p)
        return false;
    const char *nl = strchr(*p, '\n');
    *start = *p;
    *len = nl ? (size_t)(nl - *p) + 1 : strlen(*p);
    *p += *len;
    return true;
}

/* The username of a line (leading blanks skipped, as the loader does), or
 * len 0 for blank lines, comments and lines without ':'. */
static size_t s_line_user(const char *line, size_t len, const char **user)
{
    size_t skip = strspn(line, " \t");
    const char *colon = memchr(line, ':', len);
    if (skip >= len || line[skip] == '#' || line[skip] == '\n' || line[skip] == '\r' || !colon)
        return 0;
    *user = line + skip;
    return (size_t)(colon - *user);
}

/* text with user's line(s) replaced by "user:hash", or removed when hash is
 * NULL; the user is appended when absent and hash is given. */
static char *s_edit(const char *text, const char *user, const char *hash, bool *found)
{
    nmq_strbuf_t out = { 0 };
    const char *p = text, *line, *name;
    size_t len, ulen = strlen(user);
    *found = false;
    while (s_next_line(&p, &line, &len)) {
        size_t n = s_line_user(line, len, &name);
        if (n != ulen || memcmp(name, user, n)) {
            nmq_strbuf_append(&out, line, len);
            continue;
        }
        if (hash && !*found)
            nmq_strbuf_printf(&out, "%s:%s\n", user, hash);
        *found = true;
    }
    if (hash && !*found) {
        if (out.len && out.data[out.len - 1] != '\n')
            nmq_strbuf_puts(&out, "\n");
        nmq_strbuf_printf(&out, "%s:%s\n", user, hash);
    }
    if (!out.data)
        nmq_strbuf_puts(&out, "");
    return nmq_strbuf_take(&out);
}

/* -U: every clear-text "user:password" line hashed; NULL with why on error. */
static char *s_hash_all(const char *text, char *why, size_t whylen)
{
    nmq_strbuf_t out = { 0 };
    const char *p = text, *line, *name;
    size_t len;
    int lineno = 0;
    char *clear = NULL;
    bool failed = false;
    while (!failed && s_next_line(&p, &line, &len)) {
        lineno++;
        size_t n = s_line_user(line, len, &name);
        size_t blank = strspn(line, " \t\r\n");
        if (!n && blank < len && line[blank] != '#') {
            snprintf(why, whylen, "line %d: expected username:password", lineno);
            failed = true;
            break;
        }
        if (!n) {
            nmq_strbuf_append(&out, line, len);
            continue;
        }
        size_t plen = len - (size_t)(name + n + 1 - line);
        free(clear);
        clear = strndup(name + n + 1, plen);
        while (plen && (clear[plen - 1] == '\n' || clear[plen - 1] == '\r'))
            clear[--plen] = '\0';
        if (nmq_passwd_is_hash(clear)) {
            nmq_strbuf_append(&out, line, len);
            continue;
        }
        char hash[NMQ_PASSWD_HASH_MAX];
        if (!plen) {
            snprintf(why, whylen, "line %d: empty password", lineno);
            failed = true;
            break;
        }
        if (nmq_passwd_hash(clear, plen, hash, why, whylen) < 0) {
            failed = true;
            break;
        }
        nmq_strbuf_printf(&out, "%.*s:%s\n", (int)n, name, hash);
        OPENSSL_cleanse(clear, plen);
    }
    if (clear)
        OPENSSL_cleanse(clear, strlen(clear));
    free(clear);
    if (failed) {
        nmq_strbuf_free(&out);
        return NULL;
    }
    if (!out.data)
        nmq_strbuf_puts(&out, "");
    return nmq_strbuf_take(&out);
}

/* --- main -------------------------------------------------------------------------- */

typedef enum { S_SET, S_CREATE, S_DELETE, S_UPDATE_FILE } s_mode_t;

int main(int argc, char **argv)
{
    static const struct {
        const char *flag;
        s_mode_t mode;
        int args;           /* arguments after the flag */
    } flags[] = {
        { "-c", S_CREATE, 2 },
        { "-cf", S_CREATE, 2 },
        { "-D", S_DELETE, 2 },
        { "-U", S_UPDATE_FILE, 1 },
    };
    s_mode_t mode = S_SET;
    int first = 1;
    if (argc > 1 && argv[1][0] == '-') {
        size_t i = 0;
        while (i < sizeof flags / sizeof flags[0] && strcmp(argv[1], flags[i].flag))
            i++;
        if (i == sizeof flags / sizeof flags[0] || argc != 2 + flags[i].args)
            return s_usage();
        mode = flags[i].mode;
        first = 2;
    } else if (argc != 3) {
        return s_usage();
    }
    const char *file = argv[first];
    const char *user = mode == S_UPDATE_FILE ? NULL : argv[first + 1];
    const char *bad = user ? s_bad_username(user) : NULL;
    if (bad)
        return s_fail("username '%s' %s", user, bad);

    int errnum = 0;
    char *text = mode == S_CREATE ? strdup("") : s_slurp(file, &errnum);
    if (!text)
        return s_fail("cannot read %s: %s%s", file, strerror(errnum),
                      errnum == ENOENT && mode == S_SET ? " (-c creates it)" : "");

    char *out = NULL;
    int rc = S_EXIT_OK;
    if (mode == S_UPDATE_FILE) {
        char why[512];
        if (!(out = s_hash_all(text, why, sizeof why)))
            rc = s_fail("%s: %s; the file is unchanged", file, why);
    } else if (mode == S_DELETE) {
        bool found;
        out = s_edit(text, user, NULL, &found);
        if (!found) {
            fprintf(stderr, "nemomq-passwd: warning: user '%s' not found in %s\n", user, file);
            free(out);
            out = NULL;
        }
    } else {
        char *pw = malloc(S_PASSWORD_MAX + 2), hash[NMQ_PASSWD_HASH_MAX], why[256];
        size_t len = 0;
        if (!pw)
            rc = s_fail("out of memory");
        else if ((rc = s_get_password(pw, &len)) == S_EXIT_OK
                 && nmq_passwd_hash(pw, len, hash, why, sizeof why) < 0)
            rc = s_fail("%s", why);
        if (pw) {
            OPENSSL_cleanse(pw, S_PASSWORD_MAX + 2);
            free(pw);
        }
        bool found;
        if (rc == S_EXIT_OK)
            out = s_edit(text, user, hash, &found);
    }
    if (out)
        rc = s_write_atomic(file, out, strlen(out));
    free(out);
    OPENSSL_cleanse(text, strlen(text));   /* -U: clear-text passwords */
    free(text);
    return rc;
}

/* nmq_authfile — see nmq_authfile.h.
 *
 * Half-written files are the enemy: a non-atomic writer (`cat > file`, an
 * editor saving in place) can be caught between truncate and write.  Three
 * guards: a file modified less than NMQ_AUTHFILE_SETTLE_MS ago is left for the
 * next poll; a file whose identity changed while it was read is retried; and
 * the caller's parser is all-or-nothing.  A forced read (the first load, an
 * operator's reload) skips the first guard only.
 */
#include "nmq_authfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NMQ_AUTHFILE_SETTLE_MS 1000
#define NMQ_AUTHFILE_MAX_BYTES (64u << 20)

typedef struct {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    struct timespec ctime;
} s_ident_t;

struct nmq_authfile {
    char *path;
    bool loaded;            /* ident describes the file behind the current table */
    s_ident_t ident;
    bool failed;            /* the last attempt failed as (fail_errno, fail_ident) */
    int fail_errno;
    s_ident_t fail_ident;
};

nmq_authfile_t *nmq_authfile_new(const char *path)
{
    nmq_authfile_t *self = calloc(1, sizeof *self);
    if (!self)
        abort();
    self->path = path ? strdup(path) : NULL;
    if (path && !self->path)
        abort();
    return self;
}

void nmq_authfile_destroy(nmq_authfile_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->path);
    free(*self_p);
    *self_p = NULL;
}

const char *nmq_authfile_path(const nmq_authfile_t *self) { return self->path; }

static s_ident_t s_ident(const struct stat *st)
{
    s_ident_t id;
    memset(&id, 0, sizeof id);  /* padding too: idents are compared with memcmp */
    id.dev = st->st_dev;
    id.ino = st->st_ino;
    id.size = st->st_size;
    id.mtime = st->st_mtim;
    id.ctime = st->st_ctim;
    return id;
}

static bool s_same(const s_ident_t *a, const s_ident_t *b) { return !memcmp(a, b, sizeof *a); }

/* Record a failure: -1 when it is news (or forced), 0 when it is the failure
 * already reported, which the caller need not hear again. */
static int s_fail(nmq_authfile_t *self, bool force, int errnum, const s_ident_t *id)
{
    s_ident_t zero;
    memset(&zero, 0, sizeof zero);
    if (!id)
        id = &zero;
    bool repeat = self->failed && self->fail_errno == errnum && s_same(&self->fail_ident, id);
    self->failed = true;
    self->fail_errno = errnum;
    self->fail_ident = *id;
    return repeat && !force ? 0 : -1;
}

static bool s_settling(const struct stat *st)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long age_ms = (long long)(now.tv_sec - st->st_mtim.tv_sec) * 1000
                       + (now.tv_nsec - st->st_mtim.tv_nsec) / 1000000;
    return age_ms >= 0 && age_ms < NMQ_AUTHFILE_SETTLE_MS;
}

/* Loaded already, failed already (as reported), or still being written? */
static bool s_nothing_new(const nmq_authfile_t *self, const s_ident_t *id, const struct stat *st)
{
    return (self->loaded && s_same(&self->ident, id))
           || (self->failed && self->fail_errno == 0 && s_same(&self->fail_ident, id))
           || s_settling(st);
}

static char *s_read_all(int fd, size_t size, size_t *len)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return NULL;
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    *len = got;
    return buf;
}

int nmq_authfile_poll(nmq_authfile_t *self, bool force, nmq_authfile_parse_fn *parse, void *arg,
                      char *err, size_t errlen)
{
    if (!self->path) {
        snprintf(err, errlen, "no file to read");
        return -1;
    }
    int fd = open(self->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        snprintf(err, errlen, "cannot read %s: %s", self->path, strerror(e));
        return s_fail(self, force, e, NULL);
    }
    s_ident_t id = s_ident(&st);
    int rc = 0;
    char *text = NULL;
    size_t len = 0;
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "cannot read %s: not a regular file", self->path);
        rc = s_fail(self, force, EINVAL, &id);
    } else if (!force && s_nothing_new(self, &id, &st)) {
        rc = 0;
    } else if ((size_t)st.st_size > NMQ_AUTHFILE_MAX_BYTES) {
        snprintf(err, errlen, "%s: larger than %u MiB", self->path, NMQ_AUTHFILE_MAX_BYTES >> 20);
        rc = s_fail(self, force, EFBIG, &id);
    } else if (!(text = s_read_all(fd, (size_t)st.st_size, &len))) {
        snprintf(err, errlen, "cannot read %s: out of memory", self->path);
        rc = -1;
    } else {
        struct stat after;
        bool moved = fstat(fd, &after) < 0;
        if (!moved) {
            s_ident_t id2 = s_ident(&after);
            moved = !s_same(&id, &id2);
        }
        if (moved || len != (size_t)st.st_size) {
            /* Not recorded as a failure: the next poll simply tries again. */
            snprintf(err, errlen, "%s changed while being read; will retry", self->path);
            rc = -1;
        } else if (memchr(text, '\0', len)) {
            snprintf(err, errlen, "%s: contains a NUL byte; is it a text file?", self->path);
            rc = s_fail(self, force, 0, &id);
        } else if (parse(arg, text, len, self->path, err, errlen) < 0) {
            rc = s_fail(self, force, 0, &id);
        } else {
            self->loaded = true;
            self->ident = id;
            self->failed = false;
            rc = 1;
        }
    }
    if (text)
        explicit_bzero(text, len);  /* a password file not yet hashed holds passwords */
    free(text);
    close(fd);
    return rc;
}

int nmq_authfile_parse_string(const char *text, const char *origin, nmq_authfile_parse_fn *parse,
                              void *arg, char *err, size_t errlen)
{
    size_t len = strlen(text);
    char *copy = strdup(text);
    if (!copy)
        abort();
    int rc = parse(arg, copy, len, origin, err, errlen);
    explicit_bzero(copy, len);      /* it may be a password file */
    free(copy);
    return rc < 0 ? -1 : 0;
}

int nmq_authfile_lines(char *text, const char *origin, nmq_authfile_line_fn *fn, void *arg,
                       char *err, size_t errlen)
{
    int lineno = 0;
    char *line = text;
    while (line && *line) {
        lineno++;
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        while (*line == ' ' || *line == '\t')
            line++;
        size_t n = strlen(line);
        while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n && line[0] != '#') {
            char why[512];
            why[0] = '\0';
            if (fn(arg, lineno, line, why, sizeof why) < 0) {
                snprintf(err, errlen, "%s:%d: %s", origin ? origin : "-", lineno, why);
                return -1;
            }
        }
        line = next;
    }
    return 0;
}

/* nmq_log — see nmq_log.h.  A line is formatted once into a stack buffer and
 * written with one write(2) per output, which keeps lines whole across the
 * processes that append to the same file. */
#include "nmq_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct {
    char who[48];                 /* "acceptor.0" */
    nmq_log_level_t level;
    int console_fd;               /* -1: none */
    int error_fd;                 /* -1: none */
    bool to_stderr;
} s_log = { "nemomq", NMQ_LOG_INFO, -1, -1, true };

void nmq_log_identity(const char *role, int slot)
{
    if (slot >= 0)
        snprintf(s_log.who, sizeof s_log.who, "%s.%d", role, slot);
    else
        snprintf(s_log.who, sizeof s_log.who, "%s", role);
}

static int s_open_append(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        snprintf(err, errlen, "%s: cannot open log file: %s", path, strerror(errno));
    return fd;
}

void nmq_log_close(void)
{
    if (s_log.console_fd >= 0)
        close(s_log.console_fd);
    if (s_log.error_fd >= 0)
        close(s_log.error_fd);
    s_log.console_fd = s_log.error_fd = -1;
}

int nmq_log_open(const nmq_config_t *cfg, bool force_stderr, char *err, size_t errlen)
{
    bool want_file = !strcmp(cfg->log_console, "file") || !strcmp(cfg->log_console, "both");
    bool want_stderr = force_stderr || !strcmp(cfg->log_console, "console") ||
                       !strcmp(cfg->log_console, "both");
    int console_fd = -1, error_fd = -1;

    if (want_file && cfg->log_console_file[0]) {
        console_fd = s_open_append(cfg->log_console_file, err, errlen);
        if (console_fd < 0)
            return -1;
    }
    if (cfg->log_error_file[0]) {
        error_fd = s_open_append(cfg->log_error_file, err, errlen);
        if (error_fd < 0) {
            if (console_fd >= 0)
                close(console_fd);
            return -1;
        }
    }
    nmq_log_close();
    s_log.console_fd = console_fd;
    s_log.error_fd = error_fd;
    s_log.to_stderr = want_stderr;
    s_log.level = cfg->log_console_level;
    return 0;
}

void nmq_log_set_level(nmq_log_level_t level) { s_log.level = level; }
nmq_log_level_t nmq_log_get_level(void) { return s_log.level; }

static void s_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

void nmq_log(nmq_log_level_t level, const char *fmt, ...)
{
    if (level < s_log.level && level < NMQ_LOG_WARNING)
        return;
    int saved_errno = errno;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03dZ [%s] %s <%d> ",
                          (int)(tv.tv_usec / 1000), nmq_log_level_name(level),
                          s_log.who, (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    n = (m < 0) ? n : (n + (size_t)m >= sizeof line - 1 ? sizeof line - 2 : n + (size_t)m);
    line[n++] = '\n';

    if (level >= s_log.level) {
        if (s_log.to_stderr)
            s_write_all(STDERR_FILENO, line, n);
        if (s_log.console_fd >= 0)
            s_write_all(s_log.console_fd, line, n);
    }
    if (level >= NMQ_LOG_WARNING && s_log.error_fd >= 0)
        s_write_all(s_log.error_fd, line, n);
    errno = saved_errno;
}

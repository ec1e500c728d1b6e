/* nmq_paths — see nmq_paths.h. */
#include "nmq_paths.h"
#include "nmq_ctl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef NMQ_SYSCONF_FILE
#define NMQ_SYSCONF_FILE "/etc/nemomq/nemomq.conf"
#endif

static int s_fmt(char *buf, size_t len, const char *fmt, const char *a, const char *b)
{
    int n = snprintf(buf, len, fmt, a, b);
    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

int nmq_paths_run_dir(const nmq_config_t *cfg, char *buf, size_t len)
{
    return s_fmt(buf, len, "%s/%s", cfg->platform_data_dir, "run");
}

int nmq_paths_pid_file(const nmq_config_t *cfg, char *buf, size_t len)
{
    return s_fmt(buf, len, "%s/%s", cfg->platform_data_dir, "run/nemomq.pid");
}

int nmq_paths_endpoint(const nmq_config_t *cfg, const char *name, char *buf, size_t len)
{
    char run[NMQ_CONF_PATH_MAX + 8];
    if (nmq_paths_run_dir(cfg, run, sizeof run) < 0)
        return -1;
    return nmq_ctl_endpoint(buf, len, run, name);
}

int nmq_paths_control_endpoint(const nmq_config_t *cfg, char *buf, size_t len)
{
    return nmq_paths_endpoint(cfg, "control.sock", buf, len);
}

int nmq_paths_workers_endpoint(const nmq_config_t *cfg, char *buf, size_t len)
{
    return nmq_paths_endpoint(cfg, "workers.sock", buf, len);
}

int nmq_mkdir_p(const char *path, unsigned mode)
{
    char tmp[NMQ_CONF_PATH_MAX + 64];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

int nmq_paths_node_lock(const nmq_config_t *cfg, char *buf, size_t len)
{
    char dir[128];
    if (geteuid() == 0 && access("/run/lock", W_OK) == 0)
        snprintf(dir, sizeof dir, "/run/lock/nemomq");
    else
        snprintf(dir, sizeof dir, "/tmp/nemomq-%u", (unsigned)geteuid());
    if (nmq_mkdir_p(dir, 0700) < 0)
        return -1;
    return s_fmt(buf, len, "%s/%s.lock", dir, cfg->nodename);
}

const char *nmq_paths_default_config(void)
{
    static char checkout[NMQ_CONF_PATH_MAX];
    if (access(NMQ_SYSCONF_FILE, R_OK) == 0)
        return NMQ_SYSCONF_FILE;
    /* build/bin/nemomq in a checkout: the checkout's conf/nemomq.conf */
    char exe[NMQ_CONF_PATH_MAX - 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strstr(exe, "/build/bin/");
        if (slash) {
            *slash = '\0';
            snprintf(checkout, sizeof checkout, "%s/conf/nemomq.conf", exe);
            if (access(checkout, R_OK) == 0)
                return checkout;
        }
    }
    return "conf/nemomq.conf";
}

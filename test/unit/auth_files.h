/* auth_files — what check_passwd and check_acl share: a scratch directory
 * and files dated back in time, since nmq_authfile leaves a file modified in
 * the last second for the next poll. */
#ifndef AUTH_FILES_H
#define AUTH_FILES_H

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

/* A new directory under /tmp, in buf. */
static inline char *auth_tmpdir(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "/tmp/%s.XXXXXX", name);
    ck_assert_ptr_nonnull(mkdtemp(buf));
    return buf;
}

static inline void auth_rm_rf(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Write text to path, dated age_s seconds back (0: now). */
static inline void auth_write(const char *path, const char *text, int age_s)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    if (age_s) {
        struct timespec t[2];
        clock_gettime(CLOCK_REALTIME, &t[0]);
        t[0].tv_sec -= age_s;
        t[1] = t[0];
        ck_assert_int_eq(utimensat(AT_FDCWD, path, t, 0), 0);
    }
}

#endif

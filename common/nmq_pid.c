/* nmq_pid — see nmq_pid.h. */
#include "nmq_pid.h"

#include <pthread.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

static bool s_enabled;
static pid_t s_pid;   /* 0: ask the kernel */

static void s_child(void) { s_pid = 0; }

void nmq_pid_cache_enable(void)
{
    if (s_enabled)
        return;
    pthread_atfork(NULL, NULL, s_child);
    s_enabled = true;
}

pid_t getpid(void)
{
    pid_t pid = __atomic_load_n(&s_pid, __ATOMIC_RELAXED);
    if (pid)
        return pid;
    pid = (pid_t)syscall(SYS_getpid);
    if (__atomic_load_n(&s_enabled, __ATOMIC_RELAXED))
        __atomic_store_n(&s_pid, pid, __ATOMIC_RELAXED);
    return pid;
}

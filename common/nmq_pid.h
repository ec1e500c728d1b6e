/* nmq_pid — getpid() without a system call in worker processes.
 *
 * libzmq asks getpid() on every signal between a socket and its I/O thread
 * (its fork check) and glibc no longer caches it, so each ask is a system
 * call: on these virtual machines about one in six of a worker's system calls
 * under load.  nmq_pid.c defines getpid() for the whole executable (libzmq's
 * calls resolve to it) and, once a worker enabled it, answers from a cache
 * that pthread_atfork clears in a child, so a forked process still sees its
 * own pid and libzmq's fork check keeps working.
 */
#ifndef NMQ_PID_H
#define NMQ_PID_H

/* From here on this process answers getpid() from its cache. */
void nmq_pid_cache_enable(void);

#endif

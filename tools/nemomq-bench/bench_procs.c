/* bench_procs — the coordinator: forks the load processes and runs the
 * phases of a run over their control sockets.
 *
 * Load processes are forked, not exec'd: they share the parsed plan and hold
 * nothing a fork could break.  Each has a SOCK_SEQPACKET socketpair, so every
 * message arrives whole.  The coordinator opens no connection; it is a
 * barrier and a judge:
 *
 *   1. wait until every load process is READY (all its connections up or
 *      failed); a pub/sub run with a failed connection stops there, since
 *      its counts would mean nothing;
 *   2. send GO with t0 = now + 20 ms, the same instant for everyone;
 *   3. after the window, drain: stop when every message sent has been
 *      delivered as often as the scenario expects and every QoS 1/2
 *      handshake is complete, or when nothing moved for QUIET_NS, or after
 *      --drain seconds;
 *   4. send FINISH and collect each process's FINAL (counters, histograms).
 *
 * Every wait has a deadline, and a load process that misses one is killed
 * and the run reported as timed out: a run always ends by itself.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define QUIET_NS (2 * BENCH_NS)
#define FINAL_WAIT_NS (30 * BENCH_NS)

typedef struct {
    pid_t pid;
    int fd;
    bool ready, final, gone;
    bench_counts_t c;           /* the latest */
    bench_stats_t *fin;
} s_job_t;

typedef enum { CO_CONNECT, CO_RUN, CO_DRAIN, CO_FINISH, CO_OVER } s_phase_t;

typedef struct {
    const bench_cfg_t *cfg;
    s_job_t *jobs;
    int n;
    s_phase_t phase;
    bench_status_t status;
    char err[BENCH_ERR_LEN];
    uint64_t now, t0, t_end, t_finish, deadline, last_move, last_verbose;
    uint64_t moved;             /* received + acked + stray, to see progress */
} s_coord_t;

static bench_msg_t s_msg;       /* one message, as large as FINAL */

int bench_msg_send(int fd, uint32_t type, uint32_t job, const bench_stats_t *s)
{
    size_t len = offsetof(bench_msg_t, s);
    s_msg.type = type;
    s_msg.job = job;
    s_msg.t0 = 0;
    if (type == BENCH_MSG_FINAL) {
        s_msg.s = *s;
        len = sizeof s_msg;
    } else if (s) {
        s_msg.s.c = s->c;
        len += sizeof s->c;
    }
    ssize_t n = send(fd, &s_msg, len, MSG_NOSIGNAL | (type == BENCH_MSG_FINAL ? 0 : MSG_DONTWAIT));
    if (n == (ssize_t)len || (n < 0 && errno == EAGAIN))
        return 0;               /* a PROGRESS the coordinator has no room for is not missed */
    return -1;
}

static void s_send_all(s_coord_t *C, uint32_t type, uint64_t t0)
{
    for (int i = 0; i < C->n; i++) {
        if (C->jobs[i].gone)
            continue;
        bench_msg_t m = { .type = type, .job = (uint32_t)i, .t0 = t0 };
        (void)send(C->jobs[i].fd, &m, offsetof(bench_msg_t, s), MSG_NOSIGNAL);
    }
}

static void s_fail(s_coord_t *C, bench_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s_fail(s_coord_t *C, bench_status_t st, const char *fmt, ...)
{
    if (C->status == BENCH_OK)
        C->status = st;
    if (!C->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(C->err, sizeof C->err, fmt, ap);
        va_end(ap);
    }
}

static void s_spawn(s_coord_t *C)
{
    fflush(stdout);
    fflush(stderr);
    for (int k = 0; k < C->n; k++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
            perror("nemomq-bench: socketpair");
            exit(1);
        }
        int big = 1 << 20;
        (void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
        (void)setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
        pid_t pid = fork();
        if (pid < 0) {
            perror("nemomq-bench: fork");
            exit(1);
        }
        if (pid == 0) {
            for (int j = 0; j < k; j++)
                close(C->jobs[j].fd);
            close(sv[0]);
            _exit(bench_loop_run(C->cfg, k, sv[1]));
        }
        close(sv[1]);
        (void)fcntl(sv[0], F_SETFL, O_NONBLOCK);
        C->jobs[k].pid = pid;
        C->jobs[k].fd = sv[0];
    }
}

static void s_receive(s_coord_t *C, s_job_t *j)
{
    for (;;) {
        ssize_t n = recv(j->fd, &s_msg, sizeof s_msg, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < (ssize_t)(offsetof(bench_msg_t, s) + sizeof(bench_counts_t))) {
            j->gone = true;
            close(j->fd);
            j->fd = -1;
            if (!j->final)
                s_fail(C, BENCH_FAILED, "load process %d exited without a report", (int)(j - C->jobs));
            return;
        }
        j->c = s_msg.s.c;
        if (s_msg.type == BENCH_MSG_READY)
            j->ready = true;
        if (s_msg.type == BENCH_MSG_FINAL && n == (ssize_t)sizeof s_msg) {
            j->fin = malloc(sizeof *j->fin);
            if (!j->fin)
                abort();
            *j->fin = s_msg.s;
            j->final = true;
        }
    }
}

static bench_counts_t s_sum(const s_coord_t *C)
{
    bench_counts_t t;
    memset(&t, 0, sizeof t);
    for (int i = 0; i < C->n; i++)
        bench_counts_add(&t, &C->jobs[i].c);
    return t;
}

static bool s_all(const s_coord_t *C, size_t field)
{
    for (int i = 0; i < C->n; i++) {
        const s_job_t *j = &C->jobs[i];
        if (!j->gone && !*(const bool *)(const void *)((const char *)j + field))
            return false;
    }
    return true;
}

static void s_finish(s_coord_t *C)
{
    s_send_all(C, BENCH_MSG_FINISH, 0);
    C->phase = CO_FINISH;
    C->t_finish = C->now;
}

static void s_verbose(s_coord_t *C, const bench_counts_t *t)
{
    if (!C->cfg->verbose || C->now - C->last_verbose < BENCH_NS)
        return;
    C->last_verbose = C->now;
    static const char *names[] = { "connect", "run", "drain", "finish", "over" };
    fprintf(stderr, "nemomq-bench: %-7s up %llu failed %llu  sent %llu  received %llu  inflight %llu\n",
            names[C->phase], (unsigned long long)t->conn_ok, (unsigned long long)t->conn_failed,
            (unsigned long long)t->sent, (unsigned long long)t->received, (unsigned long long)t->inflight);
}

/* One step of the phases, after the messages of this turn are in. */
static void s_step(s_coord_t *C)
{
    const bench_cfg_t *cfg = C->cfg;
    bench_counts_t t = s_sum(C);
    s_verbose(C, &t);
    switch (C->phase) {
    case CO_CONNECT:
        if (!s_all(C, offsetof(s_job_t, ready)))
            break;
        if (C->status != BENCH_OK) {
            s_finish(C);
            break;
        }
        if (cfg->scn->sees != BENCH_SEES_NONE && t.conn_failed) {
            s_fail(C, BENCH_FAILED, "%d connections failed: no message sent", (int)t.conn_failed);
            s_finish(C);
            break;
        }
        C->t0 = C->now + 20 * 1000000ull;
        C->t_end = C->t0 + (uint64_t)((cfg->warmup + cfg->duration) * 1e9);
        C->deadline = C->t_end + (uint64_t)((cfg->drain + 30) * 1e9);
        s_send_all(C, BENCH_MSG_GO, C->t0);
        C->phase = CO_RUN;
        break;
    case CO_RUN:
        if (C->now < C->t_end)
            break;
        C->phase = CO_DRAIN;
        C->last_move = C->now;
        C->moved = t.received + t.acked + t.stray;
        /* fall through */
    case CO_DRAIN:
        if (cfg->scn->sees == BENCH_SEES_NONE) {
            s_finish(C);
            break;
        }
        if (t.received + t.acked + t.stray != C->moved) {
            C->moved = t.received + t.acked + t.stray;
            C->last_move = C->now;
        }
        if ((s_all(C, offsetof(s_job_t, ready)) && t.pubs_done == (uint32_t)C->n &&
             t.unique >= t.sent * cfg->mult && !t.inflight) ||
            C->now - C->last_move >= QUIET_NS || C->now >= C->t_end + (uint64_t)(cfg->drain * 1e9))
            s_finish(C);
        break;
    case CO_FINISH:
        if (s_all(C, offsetof(s_job_t, final)))
            C->phase = CO_OVER;
        else if (C->now - C->t_finish >= FINAL_WAIT_NS) {
            s_fail(C, BENCH_TIMEOUT, "a load process sent no report within %d s of FINISH",
                   (int)(FINAL_WAIT_NS / BENCH_NS));
            C->phase = CO_OVER;
        }
        break;
    case CO_OVER:
        break;
    }
    if (C->phase < CO_FINISH && C->now >= C->deadline) {
        s_fail(C, BENCH_TIMEOUT, "the run passed its deadline");
        s_finish(C);
    }
}

static void s_reap(s_coord_t *C)
{
    uint64_t until = bench_now() + 5 * BENCH_NS;
    for (int i = 0; i < C->n; i++) {
        s_job_t *j = &C->jobs[i];
        int st;
        while (waitpid(j->pid, &st, WNOHANG) == 0) {
            if (bench_now() >= until) {
                kill(j->pid, SIGKILL);
                (void)waitpid(j->pid, &st, 0);
                break;
            }
            usleep(10000);
        }
        if (j->fd >= 0)
            close(j->fd);
    }
}

static void s_merge(const s_coord_t *C, bench_result_t *res)
{
    memset(res, 0, sizeof *res);
    bench_hist_init(&res->s.lat);
    bench_hist_init(&res->s.hs);
    for (int i = 0; i < C->n; i++) {
        const s_job_t *j = &C->jobs[i];
        const bench_counts_t *c = j->fin ? &j->fin->c : &j->c;
        bench_counts_add(&res->s.c, c);
        if (j->fin) {
            bench_hist_merge(&res->s.lat, &j->fin->lat);
            bench_hist_merge(&res->s.hs, &j->fin->hs);
            res->jobs_reported++;
        }
    }
    res->status = C->status;
    const bench_counts_t *t = &res->s.c;
    if (res->status == BENCH_OK && (t->conn_failed || t->conn_lost))
        res->status = BENCH_FAILED;
    if (C->err[0]) {
        /* the run's verdict first, then what went wrong first on a connection */
        char first[BENCH_ERR_LEN];
        memcpy(first, res->s.c.err, sizeof first);
        size_t n = (size_t)snprintf(res->s.c.err, sizeof res->s.c.err, "%s", C->err);
        if (first[0] && n + 10 < sizeof res->s.c.err)
            snprintf(res->s.c.err + n, sizeof res->s.c.err - n, " (first: %s)", first);
    }
    if (t->t_last_connack > t->t_first_connect && t->t_first_connect)
        res->connect_s = (double)(t->t_last_connack - t->t_first_connect) / 1e9;
    if (C->t0) {
        res->measured_s = C->cfg->duration;
        res->drain_s = C->t_finish > C->t_end ? (double)(C->t_finish - C->t_end) / 1e9 : 0;
    }
}

int bench_procs_run(const bench_cfg_t *cfg, bench_result_t *res)
{
    s_coord_t co, *C = &co;
    memset(C, 0, sizeof *C);
    C->cfg = cfg;
    C->n = cfg->jobs;
    C->jobs = calloc((size_t)C->n, sizeof *C->jobs);
    if (!C->jobs)
        abort();
    signal(SIGPIPE, SIG_IGN);
    s_spawn(C);
    C->now = bench_now();
    C->deadline = C->now + (uint64_t)((cfg->connect_timeout + 10) * 1e9);
    struct pollfd *pf = calloc((size_t)C->n, sizeof *pf);
    while (C->phase != CO_OVER) {
        for (int i = 0; i < C->n; i++)
            pf[i] = (struct pollfd){ .fd = C->jobs[i].fd, .events = POLLIN };
        (void)poll(pf, (nfds_t)C->n, 20);
        C->now = bench_now();
        for (int i = 0; i < C->n; i++)
            if (!C->jobs[i].gone && pf[i].revents)
                s_receive(C, &C->jobs[i]);
        s_step(C);
    }
    free(pf);
    s_reap(C);
    s_merge(C, res);
    for (int i = 0; i < C->n; i++)
        free(C->jobs[i].fin);
    free(C->jobs);
    return res->status == BENCH_OK ? 0 : 1;
}

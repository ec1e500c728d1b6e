/* nmq_worker — see nmq_worker.h.
 *
 * The loop is one epoll over a small table of watched items: the control
 * DEALER first, the SIGTERM signalfd second, then the role's items.  A ZeroMQ
 * socket is watched through its ZMQ_FD, which only says "something changed":
 * the socket is then pending, and ZMQ_EVENTS is asked for pending sockets
 * only (after a signal, after its handler ran, after this process sent on
 * it: nmq_worker_socket_used).  zmq_poll asked every socket twice
 * per turn, each answer a poll() and a getpid(): most of a worker's system
 * calls at 10,000 messages a second.  Heartbeats are
 * due every interval whatever the role does; any message from the supervisor
 * counts as its heartbeat.  The worker does not judge the supervisor: the
 * kernel kills it when the supervisor dies (PR_SET_PDEATHSIG, set before exec).
 *
 * Memory: in a busy worker free() does not hand memory back to the system
 * (M_TRIM_THRESHOLD high, M_MMAP_THRESHOLD fixed): returned pages come back
 * as page faults on the next batch, and a fan-out spent an eighth of its CPU
 * there.  A worker that was mostly idle over a heartbeat interval (all its
 * threads, ZeroMQ's included, under NMQ_WORKER_TRIM_BUSY_PCT of it) turns
 * the threshold back down and gives what it holds free back at once
 * (malloc_trim), so a connect storm or a backlog leaves nothing behind.
 * ZeroMQ's thread allocates from the same arena (M_ARENA_MAX 1): the top of
 * a thread's own arena is out of malloc_trim's reach.
 */
#include "nmq_worker.h"
#include "nmq_ctl.h"
#include "nmq_log.h"
#include "nmq_pid.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define NMQ_WORKER_MAX_ITEMS 64
#define NMQ_WORKER_WELCOME_TIMEOUT_MS 10000
#define NMQ_WORKER_MAX_LISTEN 16

typedef struct {
    nmq_worker_io_fn *fn;
    void *arg;
    void *sock;          /* a ZeroMQ socket, or NULL for a plain fd */
    int fd;              /* the fd, or the socket's ZMQ_FD */
    short events;        /* ZMQ_POLLIN / ZMQ_POLLOUT */
    short revents;       /* fd: this turn's epoll_wait; socket: its ZMQ_EVENTS */
    bool pending;        /* socket: ZMQ_EVENTS is worth asking */
    uint32_t key;        /* epoll data: stable while items move */
} s_watch_t;

struct nmq_worker {
    const nmq_role_t *role;
    int slot;
    void *zctx;
    void *control;
    int sigfd;
    nmq_config_t *cfg;
    uint64_t generation;
    void *data;
    bool stopping;
    bool done;
    int exit_status;
    uint64_t hb_seq;
    int64_t next_heartbeat;
    int64_t cpu_us_at_heartbeat;   /* the process's CPU time at the last one */
    bool memory_busy;              /* free() keeps what it frees (s_memory_mode) */
    int epfd;
    uint32_t next_key;
    s_watch_t watches[NMQ_WORKER_MAX_ITEMS];
    int nitems;
    /* metrics of the heartbeat being built */
    Nmq__Metric *metrics;
    Nmq__Metric **metric_ptrs;
    size_t nmetrics, cap_metrics;
    /* inherited listeners, parsed from NMQ_LISTEN_FDS */
    char listen_env[1024];
    const char *listen_names[NMQ_WORKER_MAX_LISTEN];
    const char *listen_addrs[NMQ_WORKER_MAX_LISTEN];
    int listen_fds[NMQ_WORKER_MAX_LISTEN];
    int nlisten;
};

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const nmq_config_t *nmq_worker_config(const nmq_worker_t *w) { return w->cfg; }
const char *nmq_worker_role(const nmq_worker_t *w) { return w->role->name; }
int nmq_worker_slot(const nmq_worker_t *w) { return w->slot; }
void *nmq_worker_zctx(nmq_worker_t *w) { return w->zctx; }
void nmq_worker_set_data(nmq_worker_t *w, void *data) { w->data = data; }
void *nmq_worker_data(const nmq_worker_t *w) { return w->data; }
bool nmq_worker_stopping(const nmq_worker_t *w) { return w->stopping; }

void nmq_worker_exit(nmq_worker_t *w, int status)
{
    w->done = true;
    w->exit_status = status;
}

/* The process's worker, for nmq_worker_socket_used (one per process). */
static nmq_worker_t *s_self;

static uint32_t s_epoll_events(short events)
{
    return (events & ZMQ_POLLIN ? EPOLLIN : 0) | (events & ZMQ_POLLOUT ? EPOLLOUT : 0);
}

static int s_watch(nmq_worker_t *w, void *sock, int fd, short events,
                   nmq_worker_io_fn *fn, void *arg)
{
    if (w->nitems >= NMQ_WORKER_MAX_ITEMS)
        return -1;
    if (sock) {
        size_t len = sizeof fd;
        if (zmq_getsockopt(sock, ZMQ_FD, &fd, &len) < 0)
            return -1;
    }
    uint32_t key = ++w->next_key;
    struct epoll_event ev = { .events = sock ? EPOLLIN : s_epoll_events(events), .data.u32 = key };
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -1;
    /* a socket may hold messages already: ask it on the next turn */
    w->watches[w->nitems++] = (s_watch_t){ .fn = fn, .arg = arg, .sock = sock, .fd = fd,
                                           .events = events, .pending = sock != NULL, .key = key };
    return 0;
}

static void s_unwatch(nmq_worker_t *w, void *sock, int fd)
{
    for (int i = 0; i < w->nitems; i++) {
        if (w->watches[i].sock == sock && (sock || w->watches[i].fd == fd)) {
            epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->watches[i].fd, NULL);
            memmove(&w->watches[i], &w->watches[i + 1], (size_t)(w->nitems - i - 1) * sizeof w->watches[0]);
            w->nitems--;
            return;
        }
    }
}

void nmq_worker_socket_used(void *sock)
{
    nmq_worker_t *w = s_self;
    for (int i = 0; w && i < w->nitems; i++)
        if (w->watches[i].sock == sock) {
            w->watches[i].pending = true;
            return;
        }
}

int nmq_worker_watch_fd(nmq_worker_t *w, int fd, short events, nmq_worker_io_fn *fn, void *arg)
{
    return s_watch(w, NULL, fd, events, fn, arg);
}

int nmq_worker_watch_socket(nmq_worker_t *w, void *sock, short events, nmq_worker_io_fn *fn, void *arg)
{
    return s_watch(w, sock, -1, events, fn, arg);
}

void nmq_worker_unwatch_fd(nmq_worker_t *w, int fd) { s_unwatch(w, NULL, fd); }

void nmq_worker_pause_fd(nmq_worker_t *w, int fd, bool paused)
{
    for (int i = 0; i < w->nitems; i++) {
        s_watch_t *x = &w->watches[i];
        if (x->sock || x->fd != fd)
            continue;
        struct epoll_event ev = { .events = paused ? 0 : s_epoll_events(x->events), .data.u32 = x->key };
        epoll_ctl(w->epfd, EPOLL_CTL_MOD, fd, &ev);
        if (paused)
            x->revents = 0;
        return;
    }
}
void nmq_worker_unwatch_socket(nmq_worker_t *w, void *sock) { s_unwatch(w, sock, -1); }

int nmq_worker_listen_fds(const nmq_worker_t *w, const char **names, const char **addrs,
                          int *fds, int max)
{
    int n = w->nlisten < max ? w->nlisten : max;
    for (int i = 0; i < n; i++) {
        names[i] = w->listen_names[i];
        addrs[i] = w->listen_addrs[i];
        fds[i] = w->listen_fds[i];
    }
    return n;
}

/* "tcp.default=127.0.0.1:1883=3;tcp.b=[::1]:1884=4" */
static void s_parse_listen_env(nmq_worker_t *w)
{
    const char *env = getenv(NMQ_ENV_LISTEN_FDS);
    if (!env)
        return;
    snprintf(w->listen_env, sizeof w->listen_env, "%s", env);
    char *save = NULL;
    for (char *tok = strtok_r(w->listen_env, ";", &save); tok && w->nlisten < NMQ_WORKER_MAX_LISTEN;
         tok = strtok_r(NULL, ";", &save)) {
        char *eq1 = strchr(tok, '=');
        char *eq2 = eq1 ? strrchr(eq1 + 1, '=') : NULL;
        if (!eq1 || !eq2)
            continue;
        *eq1 = *eq2 = '\0';
        w->listen_names[w->nlisten] = tok;
        w->listen_addrs[w->nlisten] = eq1 + 1;
        w->listen_fds[w->nlisten] = atoi(eq2 + 1);
        w->nlisten++;
    }
}

int nmq_worker_reply_query(nmq_worker_t *w, uint64_t query, int status, const char *err,
                           const char *const *columns, size_t ncols, char *const *cells, size_t nrows)
{
    return nmq_ctl_reply_query(w->control, query, status, err, columns, ncols, cells, nrows);
}

void nmq_worker_metric(nmq_worker_t *w, const char *name, uint64_t value, bool gauge)
{
    if (w->nmetrics == w->cap_metrics) {
        w->cap_metrics = w->cap_metrics ? w->cap_metrics * 2 : 64;
        w->metrics = realloc(w->metrics, w->cap_metrics * sizeof *w->metrics);
        w->metric_ptrs = realloc(w->metric_ptrs, w->cap_metrics * sizeof *w->metric_ptrs);
    }
    Nmq__Metric *m = &w->metrics[w->nmetrics++];
    nmq__metric__init(m);
    m->name = (char *)name;   /* the role's static names */
    m->has_value = m->has_gauge = true;
    m->value = value;
    m->gauge = gauge;
}

static void s_send(nmq_worker_t *w, unsigned cmd)
{
    Nmq__Ctl msg = NMQ__CTL__INIT;
    char info[256] = "";
    msg.has_cmd = true;
    msg.cmd = cmd;
    if (cmd == NMQ_CTL_HELLO) {
        msg.role = (char *)w->role->name;
        msg.has_slot = msg.has_pid = true;
        msg.slot = (uint32_t)w->slot;
        msg.pid = getpid();
    }
    if (cmd == NMQ_CTL_HEARTBEAT) {
        msg.has_seq = true;
        msg.seq = ++w->hb_seq;
    }
    if ((cmd == NMQ_CTL_READY || cmd == NMQ_CTL_HEARTBEAT) && w->role->status) {
        w->role->status(w, info, sizeof info);
        msg.info = info;
    }
    w->nmetrics = 0;
    if (cmd == NMQ_CTL_HEARTBEAT && w->role->metrics) {
        w->role->metrics(w);
        for (size_t i = 0; i < w->nmetrics; i++)
            w->metric_ptrs[i] = &w->metrics[i];
        msg.n_metrics = w->nmetrics;
        msg.metrics = w->metric_ptrs;
    }
    if (nmq_ctl_send(w->control, NULL, 0, &msg) < 0 && errno != EAGAIN)
        nmq_warn("control: cannot send %s: %s", nmq_ctl_cmd_name(cmd), zmq_strerror(errno));
}

/* Parse a config sent by the supervisor.  It was valid there, so a failure here
 * is a bug between versions: exit with the config status, never loop. */
static nmq_config_t *s_config_from(const Nmq__Ctl *msg)
{
    nmq_config_t *cfg = nmq_config_new();
    char err[512];
    if (!cfg || !msg->config ||
        nmq_config_load_string(cfg, msg->config, NULL, NULL, NULL, err, sizeof err) < 0) {
        nmq_error("cannot use the config sent by the supervisor: %s", msg->config ? err : "none sent");
        nmq_config_destroy(&cfg);
        return NULL;
    }
    return cfg;
}

static void s_begin_stop(nmq_worker_t *w, const char *why)
{
    if (w->stopping)
        return;
    w->stopping = true;
    nmq_info("stopping (%s)", why);
    if (w->role->stop)
        w->role->stop(w);
    else
        nmq_worker_exit(w, 0);
}

static void s_reload(nmq_worker_t *w, const Nmq__Ctl *msg)
{
    nmq_config_t *cfg = s_config_from(msg);
    if (!cfg)
        return;   /* keep the old one; the supervisor logs the mismatch via status */
    /* The config keeps its address across reloads (a flat struct, copied in
     * place), so a role may hold nmq_worker_config()'s pointer for its life. */
    nmq_config_t *old = nmq_config_dup(w->cfg);
    *w->cfg = *cfg;
    nmq_config_destroy(&cfg);
    w->generation = msg->generation;
    nmq_log_set_level(w->cfg->log_console_level);
    if (w->role->reload)
        w->role->reload(w, old);
    nmq_config_destroy(&old);
    nmq_info("config generation %llu in place", (unsigned long long)w->generation);
}

static void s_on_control(nmq_worker_t *w, void *arg, short revents)
{
    for (;;) {
        Nmq__Ctl *msg = nmq_ctl_recv(w->control, ZMQ_DONTWAIT, NULL, NULL);
        if (!msg)
            return;
        if (!nmq_ctl_cmd_allowed(msg->cmd, NMQ_CTL_FROM_SUPERVISOR))
            nmq_warn("control: ignored %s from the supervisor", nmq_ctl_cmd_name(msg->cmd));
        else if (msg->cmd == NMQ_CTL_STOP)
            s_begin_stop(w, "asked by the supervisor");
        else if (msg->cmd == NMQ_CTL_RELOAD)
            s_reload(w, msg);
        else if (msg->cmd != NMQ_CTL_HEARTBEAT && w->role->control)
            w->role->control(w, msg);
        /* HEARTBEAT: nothing to do, its arrival is the point */
        nmq__ctl__free_unpacked(msg, NULL);
    }
}

static void s_on_signal(nmq_worker_t *w, void *arg, short revents)
{
    struct signalfd_siginfo si;
    while (read(w->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
        if (si.ssi_signo == SIGTERM)
            s_begin_stop(w, "SIGTERM");
}

/* Connect, HELLO, and wait for WELCOME with the config. */
static int s_handshake(nmq_worker_t *w)
{
    const char *endpoint = getenv(NMQ_ENV_CONTROL);
    if (!endpoint) {
        fprintf(stderr, "nemomq: %s %d started without %s: workers are started by the supervisor\n",
                w->role->name, w->slot, NMQ_ENV_CONTROL);
        return NMQ_EXIT_CONFIG;
    }
    w->zctx = zmq_ctx_new();
    w->control = zmq_socket(w->zctx, ZMQ_DEALER);
    char id[32];
    snprintf(id, sizeof id, "w%d", (int)getpid());
    int linger = 200;
    zmq_setsockopt(w->control, ZMQ_ROUTING_ID, id, strlen(id));
    zmq_setsockopt(w->control, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(w->control, endpoint) < 0) {
        nmq_error("cannot connect to the supervisor at %s: %s", endpoint, zmq_strerror(errno));
        return 1;
    }
    s_send(w, NMQ_CTL_HELLO);
    zmq_pollitem_t item = { .socket = w->control, .events = ZMQ_POLLIN };
    int64_t deadline = s_now_ms() + NMQ_WORKER_WELCOME_TIMEOUT_MS;
    while (s_now_ms() < deadline) {
        if (zmq_poll(&item, 1, (long)(deadline - s_now_ms())) <= 0)
            continue;
        Nmq__Ctl *msg = nmq_ctl_recv(w->control, 0, NULL, NULL);
        if (!msg)
            continue;
        if (msg->cmd == NMQ_CTL_WELCOME) {
            w->cfg = s_config_from(msg);
            w->generation = msg->generation;
        } else if (msg->cmd == NMQ_CTL_STOP) {
            w->done = true;
        }
        nmq__ctl__free_unpacked(msg, NULL);
        if (w->cfg)
            return 0;
        if (w->done)
            return -1;
        /* anything else before WELCOME (a heartbeat): keep waiting */
    }
    nmq_error("no WELCOME from the supervisor within %d ms", NMQ_WORKER_WELCOME_TIMEOUT_MS);
    return 1;
}

static int s_setup_signals(nmq_worker_t *w)
{
    /* Ctrl-C in `nemomq console` reaches the whole process group: only the
     * supervisor acts on it, and it stops the workers in order. */
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    w->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return w->sigfd < 0 ? -1 : 0;
}

/* Thresholds of the memory policy (see the top of the file). */
#define NMQ_WORKER_TRIM_BUSY (64 << 20)     /* free() trims above this while busy */
#define NMQ_WORKER_TRIM_QUIET (128 << 10)   /* and above this (glibc's own) while quiet */
#define NMQ_WORKER_MMAP_THRESHOLD (8 << 20) /* blocks above this are mmap'ed */
#define NMQ_WORKER_TRIM_BUSY_PCT 10

static void s_memory_mode(nmq_worker_t *w, bool busy)
{
    if (busy == w->memory_busy)
        return;
    w->memory_busy = busy;
    mallopt(M_TRIM_THRESHOLD, busy ? NMQ_WORKER_TRIM_BUSY : NMQ_WORKER_TRIM_QUIET);
}

static int64_t s_process_cpu_us(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return 0;
    return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static void s_heartbeat_if_due(nmq_worker_t *w)
{
    int64_t now = s_now_ms();
    if (now >= w->next_heartbeat) {
        s_send(w, NMQ_CTL_HEARTBEAT);
        int64_t interval_ms = w->cfg->supervisor_heartbeat_interval;
        w->next_heartbeat = now + interval_ms;
        /* what a burst (a connect storm, a backlog) left free goes back to
         * the system once the worker is quiet; a busy one keeps its pages */
        int64_t cpu = s_process_cpu_us();
        bool busy = (cpu - w->cpu_us_at_heartbeat) * 100 >= interval_ms * 1000 * NMQ_WORKER_TRIM_BUSY_PCT;
        w->cpu_us_at_heartbeat = cpu;
        s_memory_mode(w, busy);
        if (!busy)
            malloc_trim(0);
    }
}

static s_watch_t *s_find_key(nmq_worker_t *w, uint32_t key)
{
    for (int i = 0; i < w->nitems; i++)
        if (w->watches[i].key == key)
            return &w->watches[i];
    return NULL;
}

/* Ask a pending socket what it has for its handler (into revents). */
static void s_ask(s_watch_t *x)
{
    if (!x->sock || !x->pending)
        return;
    x->pending = false;
    uint32_t zev = 0;
    size_t len = sizeof zev;
    if (zmq_getsockopt(x->sock, ZMQ_EVENTS, &zev, &len) == 0)
        x->revents |= (short)(zev & (uint32_t)x->events);
}

/* What a watch has for its handler this turn (0: nothing). */
static short s_ready(s_watch_t *x)
{
    s_ask(x);
    short r = x->revents;
    x->revents = 0;
    /* a handler may stop before it read everything: ask again before blocking */
    x->pending = x->sock && r;
    return r;
}

static void s_loop(nmq_worker_t *w)
{
    w->next_heartbeat = s_now_ms() + w->cfg->supervisor_heartbeat_interval;
    while (!w->done) {
        int64_t now = s_now_ms();
        long timeout = (long)(w->next_heartbeat - now);
        if (w->role->tick) {
            int t = w->role->tick(w);
            if (w->done)
                break;
            if (t >= 0 && t < timeout)
                timeout = t;
        }
        /* sockets used since they were last asked: ask now, so a turn with
         * nothing left blocks at once instead of spinning once more */
        for (int i = 0; i < w->nitems; i++) {
            s_ask(&w->watches[i]);
            if (w->watches[i].revents)
                timeout = 0;
        }
        if (timeout < 0)
            timeout = 0;
        struct epoll_event evs[NMQ_WORKER_MAX_ITEMS];
        int n = epoll_wait(w->epfd, evs, NMQ_WORKER_MAX_ITEMS, (int)timeout);
        if (n < 0 && errno != EINTR) {
            nmq_error("epoll_wait failed: %s", strerror(errno));
            nmq_worker_exit(w, 1);
            break;
        }
        for (int i = 0; i < n; i++) {
            s_watch_t *x = s_find_key(w, evs[i].data.u32);
            if (!x)
                continue;
            if (x->sock)
                x->pending = true;
            else
                x->revents |= (short)((evs[i].events & EPOLLIN ? ZMQ_POLLIN : 0) |
                                     (evs[i].events & EPOLLOUT ? ZMQ_POLLOUT : 0) |
                                     (evs[i].events & (EPOLLERR | EPOLLHUP) ? ZMQ_POLLERR : 0));
        }
        /* in table order; a handler may watch or unwatch, moving the rest */
        for (int i = 0; i < w->nitems && !w->done; i++) {
            short revents = s_ready(&w->watches[i]);
            if (revents) {
                w->watches[i].fn(w, w->watches[i].arg, revents);
                s_heartbeat_if_due(w);   /* a busy turn must not look like a hung one */
            }
        }
        s_heartbeat_if_due(w);
    }
}

int nmq_worker_main(const nmq_role_t *role)
{
    nmq_worker_t *w = calloc(1, sizeof *w);
    if (!w)
        return 1;
    w->role = role;
    w->sigfd = -1;
    nmq_pid_cache_enable();
    mallopt(M_MMAP_THRESHOLD, NMQ_WORKER_MMAP_THRESHOLD);
    mallopt(M_ARENA_MAX, 1);   /* ZeroMQ's thread too: malloc_trim reaches all */
    s_memory_mode(w, true);
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (w->epfd < 0) {
        free(w);
        return 1;
    }
    s_self = w;
    const char *slot = getenv(NMQ_ENV_SLOT);
    w->slot = slot ? atoi(slot) : 0;
    nmq_log_identity(role->name, w->slot);
    s_parse_listen_env(w);

    int status = s_setup_signals(w) < 0 ? 1 : 0;
    if (status == 0)
        status = s_handshake(w);
    if (status == 0) {
        char err[512];
        if (nmq_log_open(w->cfg, getenv("NMQ_CONSOLE") != NULL, err, sizeof err) < 0)
            nmq_warn("%s", err);
        s_watch(w, w->control, -1, ZMQ_POLLIN, s_on_control, NULL);
        s_watch(w, NULL, w->sigfd, ZMQ_POLLIN, s_on_signal, NULL);
        status = role->start ? role->start(w) : 0;
        if (status == 0) {
            /* logged first: once the supervisor hears READY, the line is there */
            nmq_info("%s %d ready (config generation %llu)", role->name, w->slot,
                     (unsigned long long)w->generation);
            s_send(w, NMQ_CTL_READY);
            s_loop(w);
            status = w->exit_status;
        }
        if (role->destroy)
            role->destroy(w);
    } else if (status < 0) {
        status = 0;   /* stopped before it started */
    }
    nmq_config_destroy(&w->cfg);
    free(w->metrics);
    free(w->metric_ptrs);
    if (w->control)
        zmq_close(w->control);
    if (w->zctx)
        zmq_ctx_term(w->zctx);
    if (w->sigfd >= 0)
        close(w->sigfd);
    close(w->epfd);
    s_self = NULL;
    free(w);
    return status;
}

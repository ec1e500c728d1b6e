/* bench_loop — one load process: an epoll loop over its connections.
 *
 * A load process owns the connections the plan deals it and goes through
 * the run's phases, driven by the coordinator over the control socket:
 *
 *   CONNECT  open connections, at most max_pending handshakes at a time and
 *            at most connect_rate per second (shared out over the processes);
 *            when each is up or has failed (or connect_timeout passed), READY
 *   READY    wait for GO, which carries t0, the common start time
 *   RUN      publish from t0 to t_end = t0 + warm-up + duration
 *   DRAIN    deliveries and acks still arrive; wait for FINISH
 *   DONE     send FINAL (counters, histograms), DISCONNECT every connection
 *
 * Each turn of the loop: wait (epoll_pwait2, to the microsecond, with timer
 * slack at 1 us so that rate-mode sends are not late), handle events, let the
 * publishers write what is due, flush the connections that have output, then
 * timers: PROGRESS ten times a second, keep-alive pings, deadlines.  A load
 * process never outlives its own deadline, nor its coordinator.
 */
#include "bench_loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <unistd.h>

#define MAX_EVENTS 1024
#define TICK_NS (100 * 1000000ull)     /* PROGRESS and housekeeping */
#define SCRATCH (256 * 1024)

static void s_setup(bench_loop_t *L, const bench_cfg_t *cfg, int job, int ctl)
{
    memset(L, 0, sizeof *L);
    L->cfg = cfg;
    L->job = job;
    L->ctl = ctl;
    bench_hist_init(&L->st.lat);
    bench_hist_init(&L->st.hs);
    for (int g = 0; g < cfg->total; g++)
        L->n += bench_plan_owner(cfg, g) == job;
    L->conns = calloc((size_t)L->n + 1, sizeof *L->conns);
    L->pubs = calloc((size_t)L->n + 1, sizeof *L->pubs);
    L->n_groups = bench_plan_groups(cfg);
    L->trackers = calloc((size_t)L->n_groups + 1, sizeof *L->trackers);
    L->scratch_cap = SCRATCH;
    L->scratch = malloc(L->scratch_cap);
    L->payload = malloc((size_t)cfg->payload);
    if (!L->conns || !L->pubs || !L->trackers || !L->scratch || !L->payload)
        abort();
    memset(L->payload, '*', (size_t)cfg->payload);

    int i = 0;
    for (int g = 0; g < cfg->total; g++) {
        if (bench_plan_owner(cfg, g) != job)
            continue;
        bench_conn_t *c = &L->conns[i++];
        c->fd = -1;
        c->g = g;
        c->kind = (uint8_t)bench_plan_kind(cfg, g, &c->index);
        if (c->kind == BENCH_PUB) {
            char topic[256];
            bench_plan_topic(cfg, c->index, topic, sizeof topic);
            c->topic = strdup(topic);
            L->pubs[L->n_pubs++] = c;
        } else if (c->kind == BENCH_SUB) {
            int first, n;
            int grp = bench_plan_group(cfg, c->index, &first, &n);
            if (!L->trackers[grp])
                L->trackers[grp] = bench_tracker_new(first, n);
            c->track = L->trackers[grp];
        }
    }
}

static void s_teardown(bench_loop_t *L)
{
    for (int i = 0; i < L->n; i++) {
        bench_client_disconnect(L, &L->conns[i]);
        free(L->conns[i].topic);
    }
    for (int i = 0; i < L->n_groups; i++)
        bench_tracker_destroy(&L->trackers[i]);
    free(L->conns);
    free(L->pubs);
    free(L->trackers);
    free(L->scratch);
    free(L->payload);
}

void bench_loop_settled(bench_loop_t *L, bench_conn_t *c, bool up)
{
    L->pending--;
    L->settled++;
    if (up)
        L->st.c.conn_ok++;
    else
        L->st.c.conn_failed++;
}

/* Connections this process may have started by now under --connect-rate. */
static int s_allowed(const bench_loop_t *L)
{
    const bench_cfg_t *cfg = L->cfg;
    if (cfg->connect_rate <= 0)
        return L->n;
    double per_proc = cfg->connect_rate / cfg->jobs;
    double n = 1 + per_proc * (double)(L->now - L->t_begin) / 1e9;
    return n > L->n ? L->n : (int)n;
}

static void s_start_connections(bench_loop_t *L)
{
    int allowed = s_allowed(L);
    while (L->next_start < allowed && L->pending < L->cfg->max_pending && L->phase == BENCH_PH_CONNECT)
        (void)bench_conn_open(L, &L->conns[L->next_start++]);
}

static uint64_t s_sum_inflight(const bench_loop_t *L)
{
    uint64_t n = 0;
    for (int i = 0; i < L->n_pubs; i++)
        n += L->pubs[i]->inflight;
    return n;
}

static void s_report(bench_loop_t *L, uint32_t type)
{
    L->st.c.inflight = s_sum_inflight(L);
    L->st.c.pubs_done = L->phase >= BENCH_PH_DRAIN;
    L->st.c.ready = L->phase >= BENCH_PH_READY;
    if (bench_msg_send(L->ctl, type, (uint32_t)L->job, &L->st) != 0 && type != BENCH_MSG_FINAL)
        L->phase = BENCH_PH_DONE;       /* the coordinator is gone */
}

static void s_go(bench_loop_t *L, uint64_t t0)
{
    const bench_cfg_t *cfg = L->cfg;
    L->t0 = t0;
    L->t_warm = t0 + (uint64_t)(cfg->warmup * 1e9);
    L->t_end = L->t_warm + (uint64_t)(cfg->duration * 1e9);
    L->t_deadline = L->t_end + (uint64_t)((cfg->drain + 60) * 1e9);
    if (cfg->rate > 0) {
        L->interval = (uint64_t)(1e9 * cfg->n_pubs / cfg->rate);
        if (!L->interval)
            L->interval = 1;
        for (int i = 0; i < L->n_pubs; i++)
            L->pubs[i]->next_due = t0 + (uint64_t)(1e9 * L->pubs[i]->index / cfg->rate);
    }
    L->phase = BENCH_PH_RUN;
}

static void s_control(bench_loop_t *L)
{
    bench_msg_t m;
    ssize_t n = recv(L->ctl, &m, sizeof m, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n < (ssize_t)offsetof(bench_msg_t, s)) {
        L->phase = BENCH_PH_DONE;       /* the coordinator is gone: stop */
        return;
    }
    if (m.type == BENCH_MSG_GO && L->phase == BENCH_PH_READY)
        s_go(L, m.t0);
    else if (m.type == BENCH_MSG_FINISH)
        L->phase = BENCH_PH_DONE;
}

static void s_event(bench_loop_t *L, bench_conn_t *c, uint32_t ev)
{
    if (c->state == BENCH_ST_CLOSED)
        return;
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
        if (!bench_conn_read(L, c))
            return;
    if (ev & EPOLLOUT && c->state != BENCH_ST_CLOSED)
        (void)bench_conn_flush(L, c);
}

/* Publishers write; true when one of them could write more at once. */
static bool s_publish(bench_loop_t *L)
{
    bool more = false;
    if (L->phase != BENCH_PH_RUN || L->now < L->t0)
        return false;
    for (int i = 0; i < L->n_pubs; i++) {
        bench_conn_t *c = L->pubs[i];
        if (!bench_client_publish(L, c) || c->state != BENCH_ST_UP || L->cfg->rate > 0)
            continue;
        if (L->cfg->qos ? c->inflight < c->window : c->woff == c->wlen)
            more = true;
    }
    return more;
}

static void s_keepalive(bench_loop_t *L, uint64_t *next)
{
    uint64_t half = (uint64_t)L->cfg->keepalive * BENCH_NS / 2;
    if (!half || L->now < *next)
        return;
    for (int i = 0; i < L->n; i++) {
        bench_conn_t *c = &L->conns[i];
        if (c->state >= BENCH_ST_CONNACK && c->state != BENCH_ST_CLOSED && L->now - c->t_tx >= half)
            bench_client_ping(L, c);
    }
    *next = L->now + half / 4;
}

static void s_phases(bench_loop_t *L)
{
    if (L->phase == BENCH_PH_CONNECT && L->now >= L->t_connect_deadline) {
        for (int i = 0; i < L->n; i++) {
            bench_conn_t *c = &L->conns[i];
            if (c->state == BENCH_ST_NEW) {
                c->state = BENCH_ST_CLOSED;
                L->settled++;
                L->st.c.conn_failed++;
                bench_counts_error(&L->st.c, "connection %d: not started within connect-timeout", c->index);
            } else if (c->state != BENCH_ST_UP && c->state != BENCH_ST_CLOSED) {
                bench_conn_close(L, c, "no %s within connect-timeout", c->state == BENCH_ST_TCP ? "TCP handshake"
                                 : c->state == BENCH_ST_CONNACK ? "CONNACK" : "SUBACK");
            }
        }
        L->next_start = L->n;
    }
    if (L->phase == BENCH_PH_CONNECT && L->settled >= L->n) {
        L->phase = BENCH_PH_READY;
        s_report(L, BENCH_MSG_READY);
    }
    if (L->phase == BENCH_PH_RUN && L->now >= L->t_end) {
        L->phase = BENCH_PH_DRAIN;
        s_report(L, BENCH_MSG_PROGRESS);
    }
}

/* How long the next wait may be, in ns. */
static uint64_t s_wait(const bench_loop_t *L, bool more, uint64_t next_tick)
{
    uint64_t until = next_tick;
    if (more)
        return 0;
    if (L->phase == BENCH_PH_CONNECT && L->next_start < L->n && L->pending < L->cfg->max_pending) {
        if (L->cfg->connect_rate <= 0)
            return 0;
        uint64_t step = (uint64_t)(1e9 * L->cfg->jobs / L->cfg->connect_rate);
        if (L->now + step < until)
            until = L->now + step;
    }
    if (L->phase == BENCH_PH_RUN) {
        if (L->t0 > L->now && L->t0 < until)
            until = L->t0;
        if (L->t_end < until)
            until = L->t_end;
        for (int i = 0; i < L->n_pubs && L->cfg->rate > 0; i++) {
            const bench_conn_t *c = L->pubs[i];
            if (c->state == BENCH_ST_UP && c->next_due < until && (!L->cfg->qos || c->inflight < c->window))
                until = c->next_due;
        }
    }
    return until > L->now ? until - L->now : 0;
}

int bench_loop_run(const bench_cfg_t *cfg, int job, int ctl)
{
    bench_loop_t loop, *L = &loop;
    struct epoll_event evs[MAX_EVENTS];
    s_setup(L, cfg, job, ctl);
    (void)prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    L->ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event cev = { .events = EPOLLIN, .data.ptr = NULL };
    if (L->ep < 0 || epoll_ctl(L->ep, EPOLL_CTL_ADD, ctl, &cev) != 0) {
        perror("nemomq-bench: epoll");
        return 1;
    }
    L->now = L->t_begin = bench_now();
    L->t_connect_deadline = L->now + (uint64_t)(cfg->connect_timeout * 1e9);
    L->t_deadline = L->t_connect_deadline + (uint64_t)((cfg->warmup + cfg->duration + cfg->drain + 60) * 1e9);
    L->t0 = L->t_warm = L->t_end = UINT64_MAX;
    uint64_t next_tick = L->now + TICK_NS, next_ping = L->now + (uint64_t)cfg->keepalive * BENCH_NS / 2;
    bool more = false;

    while (L->phase != BENCH_PH_DONE) {
        s_start_connections(L);
        uint64_t wait = s_wait(L, more, next_tick);
        struct timespec ts = { (time_t)(wait / BENCH_NS), (long)(wait % BENCH_NS) };
        int n = epoll_pwait2(L->ep, evs, MAX_EVENTS, &ts, NULL);
        if (n < 0 && errno != EINTR) {
            perror("nemomq-bench: epoll_pwait2");
            break;
        }
        L->now = bench_now();
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr)
                s_event(L, evs[i].data.ptr, evs[i].events);
            else
                s_control(L);
        }
        L->now = bench_now();
        more = s_publish(L);
        bench_conn_flush_all(L);
        s_phases(L);
        if (L->now >= next_tick) {
            s_keepalive(L, &next_ping);
            bench_conn_flush_all(L);
            s_report(L, BENCH_MSG_PROGRESS);
            next_tick = L->now + TICK_NS;
            if (L->now >= L->t_deadline) {
                bench_counts_error(&L->st.c, "load process %d: stopped at its own deadline", job);
                break;
            }
        }
    }
    s_report(L, BENCH_MSG_FINAL);
    s_teardown(L);
    close(L->ep);
    return 0;
}

/* cluster_link — the links between this node and the other members.
 *
 * Each node binds one ROUTER on listener.vmq.clustering and dials every other
 * member with a DEALER of its own whose routing id is its nodename, so a pair
 * of nodes has two links, one dialed from each side.  What a node sends of
 * its own accord goes out on its DEALERs; the ROUTER only answers (WELCOME,
 * JOIN_REPLY, a heartbeat for a heartbeat).  All of it is CURVE (or, with
 * listener.vmq.encryption off, PLAIN with a password from the cookie) (see
 * cluster_keys.c); ROUTER_HANDOVER lets a restarted peer's new connection take
 * its name over from a dead one.
 *
 * Liveness is the Paranoid Pirate's: a heartbeat every second on each open
 * DEALER, answered by the other side's ROUTER, any message counting as one.
 * A peer is running while we heard from it, on either path, within
 * CLUSTER_LIVENESS intervals; the link is dropped when its own path is silent
 * that long, and dialed again after a backoff that doubles up to 16 s.  Each
 * new try also asks the peer's port mapper where it listens now, so a node
 * that restarts on another port is found.  A peer that speaks to us while our
 * link to it waits out its backoff is dialed again at once.  libzmq also
 * reconnects a dropped TCP connection by itself; every completed handshake
 * (seen on the DEALER's socket monitor) starts over with HELLO, because the
 * process at the other end may be a new one.
 *
 * The monitor also reports how a handshake failed: a ZAP refusal (400) means
 * the other node has another cookie; that is logged once per link and the
 * link waits out the longest backoff.
 *
 * Peers are dropped (membership changed) by marking them; the tick frees them,
 * so no callback of this loop turn ever holds a freed peer.
 *
 * Limit: each peer takes two items of the worker's poll table (its DEALER and
 * that socket's monitor), which holds NMQ_WORKER_MAX_ITEMS (64) with the
 * control socket, SIGTERM, ZAP and the ROUTER: about 28 peers.  A peer that
 * does not fit is not dialed, and says so in `cluster status`.
 */
#include "cluster.h"
#include "nmq_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define S_BIND_RETRY_MS 5000
#define S_SILENT_MS     (CLUSTER_LIVENESS * CLUSTER_HEARTBEAT_MS)
#define S_LOOKUP_MS     2000
#define S_RECV_BATCH    256

int64_t cluster_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cluster_random(void *buf, size_t len)
{
    if (getrandom(buf, len, 0) != (ssize_t)len) {
        /* no entropy source: still unique enough for nonces */
        uint8_t *p = buf;
        uint64_t x = (uint64_t)cluster_now_ms() ^ ((uint64_t)getpid() << 32);
        for (size_t i = 0; i < len; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            p[i] = (uint8_t)(x >> 56);
        }
    }
}

const char *cluster_link_state_name(cluster_link_state_t s)
{
    static const char *const names[] = { "down", "connecting", "hello", "up" };
    return names[s];
}

bool cluster_peer_running(const cluster_peer_t *p, int64_t now)
{
    return p->heard_ms && now - p->heard_ms <= S_SILENT_MS;
}

/* --- socket monitors -------------------------------------------------------------------- */

void *cluster_monitor_open(cluster_t *c, void *sock, int events)
{
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://cluster-monitor-%d", ++c->mon_seq);
    if (zmq_socket_monitor(sock, ep, events) < 0)
        return NULL;
    void *mon = zmq_socket(nmq_worker_zctx(c->w), ZMQ_PAIR);
    int linger = 0;
    zmq_setsockopt(mon, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(mon, ep) < 0) {
        zmq_close(mon);
        zmq_socket_monitor(sock, NULL, 0);
        return NULL;
    }
    return mon;
}

int cluster_monitor_next(void *mon, uint16_t *event, uint32_t *value)
{
    zmq_msg_t head, addr;
    zmq_msg_init(&head);
    if (zmq_msg_recv(&head, mon, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&head);
        return -1;
    }
    int rc = -1;
    if (zmq_msg_size(&head) >= 6) {
        const uint8_t *d = zmq_msg_data(&head);
        memcpy(event, d, 2);
        memcpy(value, d + 2, 4);
        rc = 0;
    }
    if (zmq_msg_more(&head)) {
        zmq_msg_init(&addr);
        zmq_msg_recv(&addr, mon, 0);
        zmq_msg_close(&addr);
    }
    zmq_msg_close(&head);
    return rc;
}

void cluster_monitor_close(cluster_t *c, void *sock, void **mon)
{
    if (!*mon)
        return;
    zmq_socket_monitor(sock, NULL, 0);
    zmq_close(*mon);
    *mon = NULL;
}

/* --- sending ----------------------------------------------------------------------------- */

static int s_send(cluster_t *c, void *sock, const void *rid, size_t rid_len, const Nmq__ClusterMsg *m)
{
    size_t len = nmq__cluster_msg__get_packed_size(m);
    zmq_msg_t frame;
    if (zmq_msg_init_size(&frame, len) < 0)
        return -1;
    nmq__cluster_msg__pack(m, zmq_msg_data(&frame));
    nmq_worker_socket_used(sock);
    if (rid && zmq_send(sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&frame);
        return -1;
    }
    if (zmq_msg_send(&frame, sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&frame);
        return -1;
    }
    c->msgs_out++;
    return 0;
}

int cluster_send_peer(cluster_t *c, cluster_peer_t *p, const Nmq__ClusterMsg *m)
{
    return p->dealer ? s_send(c, p->dealer, NULL, 0, m) : -1;
}

int cluster_send_router(cluster_t *c, const void *rid, size_t rid_len, const Nmq__ClusterMsg *m)
{
    return c->router ? s_send(c, c->router, rid, rid_len, m) : -1;
}

void cluster_broadcast(cluster_t *c, const Nmq__ClusterMsg *m)
{
    for (size_t i = 0; i < c->npeers; i++)
        if (c->peers[i]->state == CLUSTER_LINK_UP)
            cluster_send_peer(c, c->peers[i], m);
}

/* --- receiving ----------------------------------------------------------------------------- */

static Nmq__ClusterMsg *s_unpack(cluster_t *c, zmq_msg_t *frame, const char *where)
{
    Nmq__ClusterMsg *m = nmq__cluster_msg__unpack(NULL, zmq_msg_size(frame), zmq_msg_data(frame));
    if (!m)
        nmq_warn("cluster: dropped a malformed message (%zu bytes) on %s", zmq_msg_size(frame), where);
    else
        c->msgs_in++;
    return m;
}

static void s_on_router(nmq_worker_t *w, void *arg, short revents)
{
    cluster_t *c = arg;
    for (int i = 0; i < S_RECV_BATCH && c->router; i++) {
        char rid[NMQ_CONF_STR_MAX];
        int rid_len = zmq_recv(c->router, rid, sizeof rid - 1, ZMQ_DONTWAIT);
        if (rid_len < 0)
            return;
        zmq_msg_t frame;
        zmq_msg_init(&frame);
        int more = 0;
        size_t more_len = sizeof more;
        zmq_getsockopt(c->router, ZMQ_RCVMORE, &more, &more_len);
        if (!more || zmq_msg_recv(&frame, c->router, 0) < 0) {
            zmq_msg_close(&frame);
            continue;
        }
        while (zmq_msg_more(&frame)) {   /* one frame per message: drop the rest */
            zmq_msg_t extra;
            zmq_msg_init(&extra);
            zmq_msg_recv(&extra, c->router, 0);
            int extra_more = zmq_msg_more(&extra);
            zmq_msg_close(&extra);
            if (!extra_more)
                break;
        }
        rid_len = rid_len < (int)sizeof rid - 1 ? rid_len : (int)sizeof rid - 1;
        rid[rid_len] = '\0';
        Nmq__ClusterMsg *m = s_unpack(c, &frame, "the cluster listener");
        zmq_msg_close(&frame);
        if (!m)
            continue;
        /* the DEALER's routing id is its nodename: a message that claims
         * another is from a confused peer */
        if (!m->from || strcmp(m->from, rid))
            nmq_warn("cluster: dropped %s from '%s' claiming to be '%s'", cluster_msg_name(m->type), rid,
                     m->from ? m->from : "");
        else
            cluster_msg_dispatch(c, cluster_peer_find(c, m->from), rid, (size_t)rid_len, m);
        nmq__cluster_msg__free_unpacked(m, NULL);
    }
}

static void s_on_dealer(nmq_worker_t *w, void *arg, short revents)
{
    cluster_peer_t *p = arg;
    cluster_t *c = nmq_worker_data(w);
    for (int i = 0; i < S_RECV_BATCH && p->dealer; i++) {
        zmq_msg_t frame;
        zmq_msg_init(&frame);
        if (zmq_msg_recv(&frame, p->dealer, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&frame);
            return;
        }
        Nmq__ClusterMsg *m = s_unpack(c, &frame, p->name);
        zmq_msg_close(&frame);
        if (m)
            cluster_msg_dispatch(c, p, NULL, 0, m);
        nmq__cluster_msg__free_unpacked(m, NULL);
    }
}

/* --- the life of a link ----------------------------------------------------------------------- */

static void s_close(cluster_t *c, cluster_peer_t *p)
{
    if (p->monitor) {
        nmq_worker_unwatch_socket(c->w, p->monitor);
        cluster_monitor_close(c, p->dealer, &p->monitor);
    }
    if (p->dealer) {
        nmq_worker_unwatch_socket(c->w, p->dealer);
        zmq_close(p->dealer);
        p->dealer = NULL;
    }
    p->hello_pending = 0;
}

static void s_problem(cluster_peer_t *p, bool log_it, const char *why)
{
    if (log_it && strcmp(p->problem, why))
        nmq_warn("cluster: link to %s: %s", p->name, why);
    size_t n = strnlen(why, sizeof p->problem - 1);
    memmove(p->problem, why, n);   /* why may be p->problem itself */
    p->problem[n] = '\0';
}

void cluster_link_reset(cluster_t *c, cluster_peer_t *p, const char *why)
{
    bool was_up = p->state == CLUSTER_LINK_UP;
    if (was_up)
        cluster_bridge_peer_down(c, p);
    s_close(c, p);
    p->state = CLUSTER_LINK_IDLE;
    p->failures++;
    if (p->refused)
        p->backoff_ms = CLUSTER_BACKOFF_MAX_MS;
    else
        p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : CLUSTER_BACKOFF_MIN_MS;
    if (p->backoff_ms > CLUSTER_BACKOFF_MAX_MS)
        p->backoff_ms = CLUSTER_BACKOFF_MAX_MS;
    p->next_try_ms = cluster_now_ms() + p->backoff_ms;
    /* a link that was up is worth a line; a peer that stays away is said
     * once per reason, not once per try */
    s_problem(p, was_up || p->failures == 1, why);
    if (c->join && !strcmp(c->join->target, p->name))
        cluster_join_link_failed(c, p);
}

void cluster_link_poke(cluster_t *c, cluster_peer_t *p)
{
    if (p->state == CLUSTER_LINK_IDLE && !p->refused) {
        p->backoff_ms = 0;
        p->next_try_ms = cluster_now_ms();
    }
}

void cluster_link_up(cluster_t *c, cluster_peer_t *p)
{
    int64_t now = cluster_now_ms();
    if (!p->was_up || p->failures)
        nmq_info("cluster: link to %s (%s) up", p->name, p->addr);
    p->state = CLUSTER_LINK_UP;
    p->link_heard_ms = p->heard_ms = now;
    p->next_hb_ms = now + CLUSTER_HEARTBEAT_MS;
    p->backoff_ms = 0;
    p->failures = 0;
    p->refused = false;
    p->problem[0] = '\0';
    p->was_up = true;
}

static void s_monitor_event(cluster_t *c, cluster_peer_t *p, uint16_t event, uint32_t value)
{
    char why[2 * NMQ_CONF_STR_MAX + 128];
    switch (event) {
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        /* a new connection, maybe to a new process: start over */
        p->state = CLUSTER_LINK_CONNECTING;
        p->hello_pending = 1;
        cluster_msg_send_hello(c, p);
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        snprintf(why, sizeof why, "%s (%s) refused our handshake (ZAP %u): its distributed_cookie is not ours",
                 p->name, p->addr, value);
        if (!p->refused)
            nmq_error("cluster: %s", why);
        p->refused = true;
        s_problem(p, false, why);   /* said above, once */
        cluster_link_reset(c, p, why);
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        snprintf(why, sizeof why, "handshake with %s failed (%s %u): not a nemomq cluster listener, or another "
                 "version", p->addr, event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "protocol error" : "errno",
                 value);
        s_problem(p, true, why);
        break;
    case ZMQ_EVENT_DISCONNECTED:
        if (p->state != CLUSTER_LINK_IDLE) {
            /* libzmq reconnects by itself; the heartbeat clock decides when
             * the peer counts as down */
            p->state = CLUSTER_LINK_CONNECTING;
            p->deadline_ms = cluster_now_ms() + S_SILENT_MS;
        }
        break;
    default:
        break;
    }
}

static void s_on_monitor(nmq_worker_t *w, void *arg, short revents)
{
    cluster_peer_t *p = arg;
    cluster_t *c = nmq_worker_data(w);
    uint16_t event;
    uint32_t value;
    while (p->monitor && cluster_monitor_next(p->monitor, &event, &value) == 0)
        s_monitor_event(c, p, event, value);
}

static void s_setopt_int(void *sock, int opt, int v) { zmq_setsockopt(sock, opt, &v, sizeof v); }

static void s_dial(cluster_t *c, cluster_peer_t *p)
{
    int64_t now = cluster_now_ms();
    char ep[NMQ_CONF_STR_MAX + 8];
    snprintf(ep, sizeof ep, "tcp://%s", p->addr);
    p->dealer = zmq_socket(nmq_worker_zctx(c->w), ZMQ_DEALER);
    zmq_setsockopt(p->dealer, ZMQ_ROUTING_ID, c->self, strlen(c->self));
    if (c->cfg->listener_vmq_encryption) {
        zmq_setsockopt(p->dealer, ZMQ_CURVE_SERVERKEY, c->keys.server_public, 40);
        zmq_setsockopt(p->dealer, ZMQ_CURVE_PUBLICKEY, c->keys.client_public, 40);
        zmq_setsockopt(p->dealer, ZMQ_CURVE_SECRETKEY, c->keys.client_secret, 40);
    } else {
        zmq_setsockopt(p->dealer, ZMQ_PLAIN_USERNAME, "nemomq", 6);
        zmq_setsockopt(p->dealer, ZMQ_PLAIN_PASSWORD, c->keys.client_public, 40);
    }
    s_setopt_int(p->dealer, ZMQ_LINGER, 0);
    s_setopt_int(p->dealer, ZMQ_IMMEDIATE, 1);
    s_setopt_int(p->dealer, ZMQ_RECONNECT_IVL, 200);
    s_setopt_int(p->dealer, ZMQ_RECONNECT_IVL_MAX, 2000);
    p->monitor = cluster_monitor_open(c, p->dealer, ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                                        ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                                        ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_DISCONNECTED);
    p->state = CLUSTER_LINK_CONNECTING;
    p->deadline_ms = now + S_SILENT_MS;
    char why[NMQ_CONF_STR_MAX + 96];
    if (!p->monitor || zmq_connect(p->dealer, ep) < 0) {
        snprintf(why, sizeof why, "cannot dial %s: %s", ep, zmq_strerror(errno));
        cluster_link_reset(c, p, why);
    } else if (nmq_worker_watch_socket(c->w, p->dealer, ZMQ_POLLIN, s_on_dealer, p) < 0 ||
               nmq_worker_watch_socket(c->w, p->monitor, ZMQ_POLLIN, s_on_monitor, p) < 0) {
        snprintf(why, sizeof why, "cannot dial %s: this worker watches too many sockets (too many peers)", ep);
        cluster_link_reset(c, p, why);
    }
}

/* The port mapper's answer for a peer we are trying to reach again. */
static void s_on_lookup(void *arg, int port, const char *err)
{
    cluster_peer_t *p = arg;
    p->lookup = NULL;
    if (port <= 0)
        return;   /* keep dialing what the membership says */
    char name[PORTMAP_NAME_MAX + 1], host[NMQ_CONF_STR_MAX], addr[NMQ_CONF_STR_MAX + 16];
    if (portmap_split_nodename(p->name, name, sizeof name, host, sizeof host) < 0)
        return;
    snprintf(addr, sizeof addr, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    if (!strcmp(addr, p->addr) || strlen(addr) >= sizeof p->addr)
        return;
    nmq_info("cluster: %s now listens on %s (its port mapper says), not %s", p->name, addr, p->addr);
    memcpy(p->addr, addr, strlen(addr) + 1);   /* fits: checked above */
    if (p->state == CLUSTER_LINK_CONNECTING) {
        s_close(p->owner, p);
        p->state = CLUSTER_LINK_IDLE;
        p->next_try_ms = cluster_now_ms();
    }
}

static void s_refresh_addr(cluster_t *c, cluster_peer_t *p)
{
    char name[PORTMAP_NAME_MAX + 1], host[NMQ_CONF_STR_MAX], err[256];
    if (p->lookup || portmap_split_nodename(p->name, name, sizeof name, host, sizeof host) < 0)
        return;
    p->lookup = portmap_lookup_start(c->w, host, (uint16_t)c->cfg->portmap_port, name, S_LOOKUP_MS, s_on_lookup,
                                     p, err, sizeof err);
}

cluster_peer_t *cluster_peer_find(const cluster_t *c, const char *name)
{
    for (size_t i = 0; i < c->npeers; i++)
        if (!strcmp(c->peers[i]->name, name))
            return c->peers[i];
    return NULL;
}

cluster_peer_t *cluster_peer_add(cluster_t *c, const char *name, const char *addr)
{
    cluster_peer_t *p = cluster_peer_find(c, name);
    if (p)
        return p;
    if (c->npeers == c->cap_peers) {
        c->cap_peers = c->cap_peers ? c->cap_peers * 2 : 8;
        c->peers = realloc(c->peers, c->cap_peers * sizeof *c->peers);
    }
    p = calloc(1, sizeof *p);
    p->owner = c;
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->addr, sizeof p->addr, "%s", addr);
    p->next_try_ms = cluster_now_ms();
    c->peers[c->npeers++] = p;
    return p;
}

static void s_free_peer(cluster_t *c, size_t i)
{
    cluster_peer_t *p = c->peers[i];
    s_close(c, p);
    portmap_lookup_cancel(&p->lookup);
    free(p);
    c->peers[i] = c->peers[--c->npeers];
}

/* Which peers we want: every other active member while we are one, and the
 * node a pending join talks to. */
static bool s_wanted(const cluster_t *c, const char *name)
{
    if (c->join && !strcmp(c->join->target, name))
        return true;
    const cluster_member_t *self = cluster_members_find(&c->members, c->self);
    const cluster_member_t *r = cluster_members_find(&c->members, name);
    return (!self || cluster_member_active(self)) && cluster_member_active(r) && strcmp(name, c->self);
}

void cluster_link_sync(cluster_t *c)
{
    for (size_t i = 0; i < c->npeers; i++) {
        cluster_peer_t *p = c->peers[i];
        if (s_wanted(c, p->name))
            continue;
        if (p->dealer || p->lookup)
            nmq_info("cluster: closing the link to %s (not a member)", p->name);
        s_close(c, p);
        portmap_lookup_cancel(&p->lookup);
        p->state = CLUSTER_LINK_IDLE;
        p->next_try_ms = INT64_MAX;   /* freed by the next tick unless wanted again */
    }
    for (size_t i = 0; i < c->members.n; i++) {
        const cluster_member_t *r = &c->members.v[i];
        if (!s_wanted(c, r->name))
            continue;
        cluster_peer_t *p = cluster_peer_add(c, r->name, r->addr);
        if (p->next_try_ms == INT64_MAX)
            p->next_try_ms = cluster_now_ms();
        /* the record is the node's own word on its address */
        if (r->addr[0] && strcmp(r->addr, p->addr) && p->state != CLUSTER_LINK_UP) {
            snprintf(p->addr, sizeof p->addr, "%s", r->addr);
            s_close(c, p);
            p->state = CLUSTER_LINK_IDLE;
            p->next_try_ms = cluster_now_ms();
        }
    }
}

/* What the operator sees in `cluster show` changed: say so in the log. */
static void s_log_running(cluster_peer_t *p, bool running)
{
    if (running == p->running)
        return;
    p->running = running;
    if (running)
        nmq_info("cluster: %s is running", p->name);
    else
        nmq_warn("cluster: %s is not running: nothing heard from it for %d ms (node down or netsplit)", p->name,
                 S_SILENT_MS);
}

static void s_link_timers(cluster_t *c, cluster_peer_t *p, int64_t now)
{
    portmap_lookup_expire(&p->lookup, now);   /* a port mapper that never answers */
    switch (p->state) {
    case CLUSTER_LINK_IDLE:
        if (now >= p->next_try_ms) {
            if (p->failures > 0)
                s_refresh_addr(c, p);
            s_dial(c, p);
        }
        break;
    case CLUSTER_LINK_CONNECTING:
    case CLUSTER_LINK_HELLO:
        if (p->hello_pending)
            cluster_msg_send_hello(c, p);
        if (now >= p->deadline_ms)
            cluster_link_reset(c, p, p->state == CLUSTER_LINK_HELLO ? "no WELCOME in time" : "cannot connect");
        break;
    case CLUSTER_LINK_UP:
        if (now - p->link_heard_ms > S_SILENT_MS) {
            char why[64];
            snprintf(why, sizeof why, "silent for %d ms", S_SILENT_MS);
            cluster_link_reset(c, p, why);
        } else if (now >= p->next_hb_ms) {
            Nmq__ClusterMsg m;
            cluster_msg_init(c, &m, CLUSTER_MSG_HEARTBEAT);
            cluster_send_peer(c, p, &m);
            p->next_hb_ms = now + CLUSTER_HEARTBEAT_MS;
        }
        break;
    }
}

/* When p next needs the tick. */
static int64_t s_link_due(const cluster_peer_t *p, int64_t now)
{
    int64_t due = p->state == CLUSTER_LINK_IDLE ? p->next_try_ms
                  : p->state == CLUSTER_LINK_UP ? p->next_hb_ms
                                                : p->deadline_ms;
    if (p->hello_pending && now + 20 < due)
        due = now + 20;   /* the socket did not take HELLO yet */
    if (p->running && p->heard_ms + S_SILENT_MS + 1 < due)
        due = p->heard_ms + S_SILENT_MS + 1;
    return due;
}

int cluster_link_tick(cluster_t *c, int64_t now)
{
    int64_t next = now + CLUSTER_HEARTBEAT_MS;
    for (size_t i = 0; i < c->npeers;) {
        if (!s_wanted(c, c->peers[i]->name)) {
            s_free_peer(c, i);
            continue;
        }
        cluster_peer_t *p = c->peers[i++];
        s_link_timers(c, p, now);
        s_log_running(p, cluster_peer_running(p, now));
        int64_t due = s_link_due(p, now);
        if (due < next)
            next = due;
    }
    return next > now ? (int)(next - now) : 0;
}

/* --- the listener ------------------------------------------------------------------------------ */

static void s_bind(cluster_t *c)
{
    char ep[NMQ_CONF_STR_MAX + 8];
    snprintf(ep, sizeof ep, "tcp://%s", c->cfg->listener_vmq_clustering);
    if (zmq_bind(c->router, ep) == 0) {
        c->next_bind_ms = 0;
        c->bind_error[0] = '\0';
        nmq_info("cluster: listening on %s as %s", c->cfg->listener_vmq_clustering, c->self);
        return;
    }
    char why[sizeof c->bind_error];
    snprintf(why, sizeof why, "cannot listen on %.160s: %s", c->cfg->listener_vmq_clustering, zmq_strerror(errno));
    if (strcmp(why, c->bind_error))
        nmq_error("cluster: %s; retrying every %d s", why, S_BIND_RETRY_MS / 1000);
    snprintf(c->bind_error, sizeof c->bind_error, "%s", why);
    c->next_bind_ms = cluster_now_ms() + S_BIND_RETRY_MS;
}

int cluster_link_start(cluster_t *c)
{
    if (cluster_zap_start(c) < 0)
        return -1;
    c->router = zmq_socket(nmq_worker_zctx(c->w), ZMQ_ROUTER);
    if (c->cfg->listener_vmq_encryption) {
        s_setopt_int(c->router, ZMQ_CURVE_SERVER, 1);
        zmq_setsockopt(c->router, ZMQ_CURVE_SECRETKEY, c->keys.server_secret, 40);
    } else {
        s_setopt_int(c->router, ZMQ_PLAIN_SERVER, 1);   /* cluster_zap.c checks the password */
    }
    zmq_setsockopt(c->router, ZMQ_ZAP_DOMAIN, CLUSTER_ZAP_DOMAIN, strlen(CLUSTER_ZAP_DOMAIN));
    s_setopt_int(c->router, ZMQ_ROUTER_HANDOVER, 1);
    s_setopt_int(c->router, ZMQ_ROUTER_MANDATORY, 1);
    s_setopt_int(c->router, ZMQ_LINGER, 0);
    cluster_zap_watch_router(c);
    if (nmq_worker_watch_socket(c->w, c->router, ZMQ_POLLIN, s_on_router, c) < 0)
        return -1;
    s_bind(c);
    return 0;
}

int cluster_link_bind_tick(cluster_t *c, int64_t now)
{
    if (!c->next_bind_ms)
        return -1;
    if (now >= c->next_bind_ms)
        s_bind(c);
    return c->next_bind_ms ? (int)(c->next_bind_ms - now) : -1;
}

void cluster_link_stop(cluster_t *c)
{
    while (c->npeers)
        s_free_peer(c, 0);
    free(c->peers);
    c->peers = NULL;
    cluster_zap_stop(c);
    if (c->router) {
        nmq_worker_unwatch_socket(c->w, c->router);
        zmq_close(c->router);
        c->router = NULL;
    }
}

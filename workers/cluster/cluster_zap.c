/* cluster_zap — who may open a link to this node: the ZAP handler (RFC 27)
 * of the cluster ROUTER.
 *
 * libzmq asks inproc://zeromq.zap.01 about every CURVE (or PLAIN) handshake on the
 * ROUTER; we answer on the worker's loop (a REP socket, never waited on) with
 * 200 for the client key distributed_cookie gives (cluster_keys.c) and 400
 * for anything else.  A refused node learns nothing: the handshake ends
 * before a single message passes, and it is told only that it was refused.
 *
 * Every refusal is logged with the peer's address.  ZAP gives the IP alone,
 * so the ROUTER's socket monitor remembers each accepted connection's
 * ip:port (getpeername on the fd of ZMQ_EVENT_ACCEPTED, while the connection
 * waits for our answer) and a refusal takes the oldest one from that IP.
 * Bursts are bounded: at most one line a second, with a count of the rest.
 */
#include "cluster.h"
#include "nmq_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <zmq.h>

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_ZAP_FRAMES   7         /* version, id, domain, address, identity, mechanism, key */
#define S_ACCEPTED_TTL_MS 10000

static void s_remember(cluster_t *c, int fd)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    cluster_accepted_t a = { .fd = fd, .at_ms = cluster_now_ms() };
    if (getpeername(fd, (struct sockaddr *)&sa, &len) < 0)
        return;   /* gone already: nothing to tell */
    unsigned port = 0;
    if (sa.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, a.ip, sizeof a.ip);
        port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
        snprintf(a.peer, sizeof a.peer, "%s:%u", a.ip, port);
    } else if (sa.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, a.ip, sizeof a.ip);
        port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
        snprintf(a.peer, sizeof a.peer, "[%s]:%u", a.ip, port);
    } else {
        return;
    }
    if (c->naccepted == CLUSTER_ACCEPTED_MAX) {
        memmove(&c->accepted[0], &c->accepted[1], (CLUSTER_ACCEPTED_MAX - 1) * sizeof c->accepted[0]);
        c->naccepted--;
    }
    c->accepted[c->naccepted++] = a;
}

static void s_drain_router_monitor(cluster_t *c)
{
    uint16_t event;
    uint32_t value;
    while (cluster_monitor_next(c->router_monitor, &event, &value) == 0)
        if (event == ZMQ_EVENT_ACCEPTED)
            s_remember(c, (int)value);
}

static void s_on_router_monitor(nmq_worker_t *w, void *arg, short revents)
{
    s_drain_router_monitor(arg);
}

/* The ip:port of the oldest connection from ip we have not matched yet. */
static void s_peer_of(cluster_t *c, const char *ip, char *out, size_t len)
{
    int64_t now = cluster_now_ms();
    snprintf(out, len, "%s", ip);
    size_t k = 0;
    bool found = false;
    for (size_t i = 0; i < c->naccepted; i++) {
        cluster_accepted_t *a = &c->accepted[i];
        if (!found && !strcmp(a->ip, ip)) {
            snprintf(out, len, "%s", a->peer);
            found = true;
            continue;   /* taken */
        }
        if (now - a->at_ms < S_ACCEPTED_TTL_MS)
            c->accepted[k++] = *a;
    }
    c->naccepted = k;
}

static void s_refused(cluster_t *c, const char *peer, const char *why)
{
    int64_t now = cluster_now_ms();
    c->refusals++;
    if (now - c->refusal_log_ms < 1000) {
        c->suppressed++;
        return;
    }
    if (c->suppressed)
        nmq_warn("cluster: peer %s refused: %s (%llu more refused in the last second)", peer, why,
                 (unsigned long long)c->suppressed);
    else
        nmq_warn("cluster: peer %s refused: %s", peer, why);
    c->refusal_log_ms = now;
    c->suppressed = 0;
}

/* A REP socket must answer every request before it reads the next one, or
 * every handshake after it waits forever: each request gets exactly one. */
static void s_reply(void *zap, zmq_msg_t *id, const char *status, const char *text)
{
    nmq_worker_socket_used(zap);
    zmq_send(zap, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(zap, id ? zmq_msg_data(id) : "", id ? zmq_msg_size(id) : 0, ZMQ_SNDMORE);
    zmq_send(zap, status, strlen(status), ZMQ_SNDMORE);
    zmq_send(zap, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(zap, "", 0, ZMQ_SNDMORE);   /* user id */
    zmq_send(zap, "", 0, 0);             /* metadata */
}

static bool s_frame_is(zmq_msg_t *f, const char *s)
{
    return zmq_msg_size(f) == strlen(s) && !memcmp(zmq_msg_data(f), s, zmq_msg_size(f));
}

/* CURVE: the client key the cookie gives; PLAIN (listener.vmq.encryption
 * off): the same key, Z85, as the password. */
static bool s_admitted(const cluster_t *c, zmq_msg_t *f, int n)
{
    if (c->cfg->listener_vmq_encryption)
        return s_frame_is(&f[5], "CURVE") && zmq_msg_size(&f[6]) == 32 &&
               !memcmp(zmq_msg_data(&f[6]), c->keys.client_public_bin, 32);
    return n == S_ZAP_FRAMES + 1 && s_frame_is(&f[5], "PLAIN") && s_frame_is(&f[6], "nemomq") &&
           s_frame_is(&f[7], c->keys.client_public);
}

static void s_on_zap(nmq_worker_t *w, void *arg, short revents)
{
    cluster_t *c = arg;
    for (;;) {
        zmq_msg_t f[S_ZAP_FRAMES + 1];
        int n = 0, more = 1;
        while (more && n < S_ZAP_FRAMES + 1) {
            zmq_msg_init(&f[n]);
            if (zmq_msg_recv(&f[n], c->zap, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
                zmq_msg_close(&f[n]);
                more = 0;
                break;
            }
            more = zmq_msg_more(&f[n]);
            n++;
        }
        if (n == 0)
            return;
        while (more) {   /* more frames than RFC 27 has: drain them */
            zmq_msg_t extra;
            zmq_msg_init(&extra);
            zmq_msg_recv(&extra, c->zap, 0);
            more = zmq_msg_more(&extra);
            zmq_msg_close(&extra);
        }
        s_drain_router_monitor(c);
        char ip[64] = "?", peer[96];
        if (n > 3)
            snprintf(ip, sizeof ip, "%.*s", (int)zmq_msg_size(&f[3]), (const char *)zmq_msg_data(&f[3]));
        s_peer_of(c, ip, peer, sizeof peer);
        if (n < S_ZAP_FRAMES || !s_frame_is(&f[0], "1.0")) {
            s_refused(c, peer, "malformed ZAP request");
            s_reply(c->zap, n >= 2 ? &f[1] : NULL, "500", "malformed request");
        } else if (!s_admitted(c, f, n)) {
            s_refused(c, peer, "wrong cookie (its key is not the one distributed_cookie gives)");
            s_reply(c->zap, &f[1], "400", "wrong cookie");
        } else {
            nmq_debug("cluster: peer %s admitted", peer);
            s_reply(c->zap, &f[1], "200", "OK");
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
    }
}

int cluster_zap_start(cluster_t *c)
{
    c->zap = zmq_socket(nmq_worker_zctx(c->w), ZMQ_REP);
    int linger = 0;
    zmq_setsockopt(c->zap, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(c->zap, S_ZAP_ENDPOINT) < 0) {
        nmq_error("cluster: cannot bind the ZAP handler: %s", zmq_strerror(errno));
        return -1;
    }
    return nmq_worker_watch_socket(c->w, c->zap, ZMQ_POLLIN, s_on_zap, c);
}

void cluster_zap_watch_router(cluster_t *c)
{
    c->router_monitor = cluster_monitor_open(c, c->router, ZMQ_EVENT_ACCEPTED);
    if (c->router_monitor)
        nmq_worker_watch_socket(c->w, c->router_monitor, ZMQ_POLLIN, s_on_router_monitor, c);
}

void cluster_zap_stop(cluster_t *c)
{
    if (c->router_monitor) {
        nmq_worker_unwatch_socket(c->w, c->router_monitor);
        cluster_monitor_close(c, c->router, &c->router_monitor);
    }
    if (c->zap) {
        nmq_worker_unwatch_socket(c->w, c->zap);
        zmq_close(c->zap);
        c->zap = NULL;
    }
}

/* bench_conn — bytes in and out of one connection of a load process.
 *
 * Sockets are non-blocking and registered level-triggered, so one read per
 * ready connection per loop turn keeps a flooded subscriber from starving
 * the others.  A read lands in the process's scratch buffer and is decoded
 * in place; only a partial packet is copied to the connection's own buffer,
 * so an idle connection holds no buffer at all (100k of them fit easily).
 * Output is appended to the connection's buffer and written once per turn
 * (or at once, for publishers, so that the send time in a payload is the
 * time it was written); EPOLLOUT is armed only while a write is blocked.
 * Connections from source addresses other than 127.0.0.1 bind with
 * IP_BIND_ADDRESS_NO_PORT, so the kernel picks the port at connect() time
 * against the whole 4-tuple and each source gives a full port range.
 */
#include "bench_loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK 65536u
#define KEEP_BUF 65536u             /* larger buffers are freed once empty */

static bool s_grow(uint8_t **buf, uint32_t *cap, size_t want)
{
    if (want <= *cap)
        return true;
    size_t n = *cap ? *cap : 256;
    while (n < want)
        n *= 2;
    uint8_t *p = realloc(*buf, n);
    if (!p)
        return false;
    *buf = p;
    *cap = (uint32_t)n;
    return true;
}

static void s_poll(bench_loop_t *L, bench_conn_t *c, bool out)
{
    if (c->pollout == out)
        return;
    struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c };
    if (epoll_ctl(L->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->pollout = out;
}

bool bench_conn_open(bench_loop_t *L, bench_conn_t *c)
{
    const bench_host_t *h = bench_plan_host(L->cfg, c->g);
    uint32_t src = bench_plan_source(L->cfg, c->g);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr = h->addr, .sin_port = htons(h->port) };
    int one = 1;

    c->t_start = L->now;
    if (!L->st.c.t_first_connect)
        L->st.c.t_first_connect = L->now;
    L->pending++;
    c->state = BENCH_ST_TCP;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        bench_conn_close(L, c, "socket: %s", strerror(errno));
        return false;
    }
    /* idle connections send one packet at a time: Nagle never holds one back */
    if (c->kind != BENCH_IDLE)
        (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (src) {
        struct sockaddr_in from = { .sin_family = AF_INET, .sin_addr.s_addr = src };
        (void)setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(c->fd, (struct sockaddr *)&from, sizeof from) != 0) {
            bench_conn_close(L, c, "bind %s: %s", inet_ntoa(from.sin_addr), strerror(errno));
            return false;
        }
    }
    if (connect(c->fd, (struct sockaddr *)&to, sizeof to) != 0 && errno != EINPROGRESS) {
        bench_conn_close(L, c, "connect %s:%u: %s", inet_ntoa(h->addr), h->port, strerror(errno));
        return false;
    }
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
    if (epoll_ctl(L->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        bench_conn_close(L, c, "epoll_ctl: %s", strerror(errno));
        return false;
    }
    c->pollout = 0;
    /* on loopback the handshake is over when connect() returns (the SYN-ACK
     * was processed as the call released the socket), so CONNECT goes out at
     * once: no EPOLLOUT to wait for, no SO_ERROR to ask.  Where it is not
     * over, send() says EAGAIN and the flush waits for EPOLLOUT; a refused
     * connection fails the send. */
    return bench_client_connected(L, c);
}

bool bench_conn_read(bench_loop_t *L, bench_conn_t *c)
{
    uint8_t *buf;
    ssize_t n;
    if (c->rlen) {
        size_t want = c->rlen + READ_CHUNK > c->rneed ? c->rlen + READ_CHUNK : c->rneed;
        if (!s_grow(&c->rbuf, &c->rcap, want))
            abort();
        n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
        buf = c->rbuf;
    } else {
        n = read(c->fd, L->scratch, L->scratch_cap);
        buf = L->scratch;
    }
    if (n == 0) {
        bench_conn_close(L, c, "the broker closed the connection");
        return false;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return true;
        bench_conn_close(L, c, "read: %s", strerror(errno));
        return false;
    }
    L->now = bench_now();
    size_t have = (size_t)n + (buf == c->rbuf ? c->rlen : 0), off = 0;
    while (off < have) {
        nmq_mqtt_packet_t p;
        nmq_mqtt_result_t r = nmq_mqtt_decode(&c->dec, buf + off, have - off, &p);
        if (r.status == NMQ_MQTT_NEED_MORE) {
            c->rneed = r.size;
            break;
        }
        if (r.status == NMQ_MQTT_ERROR) {
            L->st.c.proto_err++;
            bench_conn_close(L, c, "the broker sent what the codec refuses: %s",
                             nmq_mqtt_err_str((nmq_mqtt_err_t)r.err));
            return false;
        }
        if (!bench_client_packet(L, c, &p))
            return false;
        off += r.size;
    }
    size_t left = have - off;
    if (!left) {
        c->rlen = 0;
        if (c->rcap > KEEP_BUF) {
            free(c->rbuf);
            c->rbuf = NULL;
            c->rcap = 0;
        }
    } else if (buf == L->scratch) {
        if (!s_grow(&c->rbuf, &c->rcap, left > c->rneed ? left : c->rneed))
            abort();
        memcpy(c->rbuf, buf + off, left);
        c->rlen = (uint32_t)left;
    } else {
        memmove(c->rbuf, c->rbuf + off, left);
        c->rlen = (uint32_t)left;
    }
    return true;
}

uint8_t *bench_conn_reserve(bench_conn_t *c, size_t n)
{
    if (c->woff == c->wlen)
        c->woff = c->wlen = 0;
    if (c->wlen + n > c->wcap && c->woff) {
        memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
        c->wlen -= c->woff;
        c->woff = 0;
    }
    if (!s_grow(&c->wbuf, &c->wcap, c->wlen + n))
        abort();
    return c->wbuf + c->wlen;
}

void bench_conn_mark(bench_loop_t *L, bench_conn_t *c)
{
    if (c->dirty)
        return;
    c->dirty = 1;
    c->next_dirty = L->dirty;
    L->dirty = c;
}

bool bench_conn_flush(bench_loop_t *L, bench_conn_t *c)
{
    if (c->state == BENCH_ST_CLOSED)
        return false;
    while (c->woff < c->wlen) {
        ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (n > 0) {
            c->woff += (uint32_t)n;
            c->t_tx = L->now;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            s_poll(L, c, true);
            return true;
        }
        bench_conn_close(L, c, "write: %s", n < 0 ? strerror(errno) : "nothing written");
        return false;
    }
    c->woff = c->wlen = 0;
    if (c->wcap > KEEP_BUF || c->kind == BENCH_IDLE) {
        free(c->wbuf);
        c->wbuf = NULL;
        c->wcap = 0;
    }
    s_poll(L, c, false);
    return true;
}

void bench_conn_flush_all(bench_loop_t *L)
{
    while (L->dirty) {
        bench_conn_t *c = L->dirty;
        L->dirty = c->next_dirty;
        c->dirty = 0;
        c->next_dirty = NULL;
        (void)bench_conn_flush(L, c);
    }
}

void bench_conn_close(bench_loop_t *L, bench_conn_t *c, const char *err, ...)
{
    if (c->state == BENCH_ST_CLOSED)
        return;
    if (err) {
        char text[BENCH_ERR_LEN];
        va_list ap;
        va_start(ap, err);
        vsnprintf(text, sizeof text, err, ap);
        va_end(ap);
        bench_counts_error(&L->st.c, "%s %d: %s", c->kind == BENCH_PUB ? "publisher" : c->kind == BENCH_SUB
                           ? "subscriber" : "connection", c->index, text);
        if (L->cfg->verbose > 1)
            fprintf(stderr, "nemomq-bench[%d]: %s\n", L->job, L->st.c.err);
    }
    bool up = c->state == BENCH_ST_UP;
    bool handshake = c->state != BENCH_ST_NEW && !up;
    if (c->fd >= 0)
        close(c->fd);           /* also leaves the epoll set */
    c->fd = -1;
    c->state = BENCH_ST_CLOSED;
    free(c->rbuf);
    free(c->wbuf);
    free(c->pids);
    free(c->high);
    c->rbuf = c->wbuf = NULL;
    c->pids = NULL;
    c->high = NULL;
    c->rlen = c->rcap = c->wlen = c->woff = c->wcap = 0;
    c->inflight = 0;
    if (handshake)
        bench_loop_settled(L, c, false);
    else if (up && err)
        L->st.c.conn_lost++;
}

/* acceptor_net — sockets of one acceptor: one epoll set for the inherited
 * listeners and every connection, polled by the worker runtime's loop.
 *
 * Reads take everything the socket has.  Writes are never made in a handler:
 * packets are appended to the connection's output buffer and the connection
 * goes on the dirty list; the loop flushes each dirty connection once per turn
 * (one write per connection per turn however many packets).  A client whose
 * output backs up past ACC_WBUF_HIGH is not read from until it drains: a slow
 * reader stops itself, never the acceptor.  Over the fd limit or
 * listener.max_connections a new connection is accepted and closed at once,
 * with a spare descriptor kept for exactly that.
 */
#include "acceptor.h"
#include "nmq_log.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define ACC_EPOLL_BATCH 512
#define ACC_LISTEN_TAG ((uint64_t)1 << 63)

static int s_spare_fd = -1;

uint64_t acc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

acc_conn_t *acc_conn_find(acceptor_t *a, uint64_t id)
{
    int fd = (int)(id & 0xffffffffu);
    if (fd < 0 || fd >= a->max_fds || !a->conns[fd] || a->conns[fd]->id != id)
        return NULL;
    return a->conns[fd];
}

/* Register what the connection waits for, when that changed. */
static void s_epoll_mod(acceptor_t *a, acc_conn_t *c)
{
    uint32_t want = (c->reading_paused || c->input_held ? 0 : EPOLLIN | EPOLLRDHUP) |
                    (c->wlen > c->woff ? EPOLLOUT : 0);
    if (want == c->ev_mask)
        return;
    struct epoll_event ev = { .events = want, .data.u64 = c->id };
    epoll_ctl(a->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->ev_mask = want;
}

static int s_max_conns(const acceptor_t *a)
{
    int max = a->cfg->listener_max_connections;
    if (max < 0)
        return a->max_fds;
    int n = a->cfg->listener_nr_of_acceptors;
    return (max + n - 1) / n;
}

/* The peer's address, kept in 20 bytes (an idle connection is all the
 * memory an acceptor spends on it) and spelled out when asked. */
static void s_peer_set(acc_conn_t *c, const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        c->peer.family = AF_INET;
        c->peer.port = ntohs(in->sin_port);
        memcpy(c->peer.addr, &in->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        c->peer.family = AF_INET6;
        c->peer.port = ntohs(in6->sin6_port);
        memcpy(c->peer.addr, &in6->sin6_addr, 16);
    }
}

const char *acc_conn_peer(const acc_conn_t *c)
{
    static char buf[INET6_ADDRSTRLEN + 8];
    char host[INET6_ADDRSTRLEN] = "?";
    if (c->peer.family == AF_INET || c->peer.family == AF_INET6)
        inet_ntop(c->peer.family, c->peer.addr, host, sizeof host);
    snprintf(buf, sizeof buf, "%s:%u", host, (unsigned)c->peer.port);
    return buf;
}

static void s_accept_one(acceptor_t *a, int lfd, int fd, const struct sockaddr_storage *ss)
{
    if (fd >= a->max_fds || a->nconns >= s_max_conns(a)) {
        /* refuse politely: the client sees the connection close at once */
        close(fd);
        return;
    }
    acc_conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->fd = fd;   /* TCP_NODELAY: inherited from the listener (sup_listen.c) */
    c->id = ((uint64_t)++a->gens[fd] << 32) | (uint32_t)fd;
    c->state = ACC_CONN_NEW;
    c->last_rx_ms = (int64_t)acc_now_ms();
    c->deadline_ms = c->last_rx_ms + a->cfg->mqtt_connect_timeout;
    s_peer_set(c, ss);
    nmq_mqtt_decoder_init(&c->dec, NMQ_MQTT_ROLE_SERVER, NMQ_MQTT_LEVEL_UNKNOWN,
                          a->cfg->max_message_size > 0 ? (uint32_t)a->cfg->max_message_size : 0);
    a->conns[fd] = c;
    a->nconns++;
    a->c.socket_open++;
    c->ev_mask = EPOLLIN | EPOLLRDHUP;
    struct epoll_event ev = { .events = c->ev_mask, .data.u64 = c->id };
    epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void s_accept(acceptor_t *a, int lfd)
{
    for (int i = 0; i < 256; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            s_accept_one(a, lfd, fd, &ss);
            continue;
        }
        if (errno == EMFILE || errno == ENFILE) {
            /* out of descriptors: use the spare one to take the connection
             * off the backlog and close it, rather than spin on it */
            if (s_spare_fd >= 0) {
                close(s_spare_fd);
                fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd >= 0)
                    close(fd);
                s_spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            }
            nmq_warn("out of file descriptors at %d connections: refusing new ones", a->nconns);
        }
        return;   /* EAGAIN: another acceptor took it, or the backlog is empty */
    }
}

/* What one connection may read in one event: level-triggered epoll brings it
 * back, and a turn stays short however fast the clients send. */
#define ACC_READ_BUDGET (256 * 1024)
#define ACC_TURN_BUDGET (2u << 20)

static size_t s_read(acceptor_t *a, acc_conn_t *c)
{
    size_t total = 0;
    for (size_t budget = ACC_READ_BUDGET; budget > 0;) {
        if (c->rcap - c->rlen < ACC_READ_CHUNK) {
            size_t cap = c->rcap ? c->rcap : ACC_READ_CHUNK;
            while (cap - c->rlen < ACC_READ_CHUNK)
                cap *= 2;
            uint8_t *buf = realloc(c->rbuf, cap);
            if (!buf) {
                acc_conn_close(a, c, "out of memory");
                return total;
            }
            c->rbuf = buf;
            c->rcap = cap;
        }
        size_t space = c->rcap - c->rlen;
        ssize_t n = read(c->fd, c->rbuf + c->rlen, space);
        if (n > 0) {
            c->rlen += (size_t)n;
            total += (size_t)n;
            a->c.bytes_received += (uint64_t)n;
            if ((size_t)n < space)
                break;   /* the socket is drained */
            budget = (size_t)n < budget ? budget - (size_t)n : 0;
            continue;
        }
        if (n == 0) {
            acc_session_input(a, c);   /* what came before the FIN still counts */
            if (a->conns[c->fd] == c)
                acc_conn_close(a, c, "closed by the client");
            return total;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            break;
        acc_conn_close(a, c, strerror(errno));
        return total;
    }
    c->last_rx_ms = (int64_t)acc_now_ms();
    acc_session_input(a, c);
    return total;
}

static void s_flush_one(acceptor_t *a, acc_conn_t *c)
{
    while (c->woff < c->wlen) {
        ssize_t n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
        if (n > 0) {
            c->woff += (size_t)n;
            a->c.bytes_sent += (uint64_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        acc_conn_close(a, c, n < 0 ? strerror(errno) : "write returned 0");
        return;
    }
    if (c->woff == c->wlen) {
        c->woff = c->wlen = 0;
        free(c->wbuf);   /* an idle connection holds no buffer */
        c->wbuf = NULL;
        c->wcap = 0;
        if (c->state == ACC_CONN_CLOSING) {
            acc_conn_close(a, c, NULL);
            return;
        }
    }
    c->reading_paused = c->wlen - c->woff > ACC_WBUF_HIGH;
    s_epoll_mod(a, c);
}

void acc_net_flush(acceptor_t *a)
{
    while (a->dirty) {
        acc_conn_t *c = a->dirty;
        a->dirty = c->next_dirty;
        c->next_dirty = NULL;
        c->in_dirty = false;
        s_flush_one(a, c);
    }
}

void acc_net_hold_input(acceptor_t *a, acc_conn_t *c)
{
    if (c->input_held)
        return;
    if (a->nheld == a->cap_held) {
        a->cap_held = a->cap_held ? a->cap_held * 2 : 64;
        a->held = realloc(a->held, a->cap_held * sizeof *a->held);
        if (!a->held)
            abort();
    }
    a->held[a->nheld++] = c->id;
    c->input_held = true;
    s_epoll_mod(a, c);   /* no EPOLLIN until its buffer is worked off */
}

bool acc_net_resume_held(acceptor_t *a)
{
    a->turn_routed = 0;
    size_t n = a->nheld, k = 0;
    uint64_t *ids = a->held;
    a->held = NULL;
    a->nheld = a->cap_held = 0;
    for (; k < n && !a->congested && a->turn_routed < ACC_TURN_ROUTES; k++) {
        acc_conn_t *c = acc_conn_find(a, ids[k]);
        if (!c)
            continue;
        c->input_held = false;
        acc_session_input(a, c);
        if (a->conns[ids[k] & 0xffffffffu] == c && !c->input_held)
            s_epoll_mod(a, c);
    }
    for (; k < n; k++) {   /* the budget ran out again: still held, in order */
        acc_conn_t *c = acc_conn_find(a, ids[k]);
        if (c) {
            c->input_held = false;
            acc_net_hold_input(a, c);
        }
    }
    free(ids);
    return a->nheld > 0;
}

void acc_net_on_events(nmq_worker_t *w, void *arg, short revents)
{
    acceptor_t *a = arg;
    a->turn_routed = 0;
    struct epoll_event evs[ACC_EPOLL_BATCH];
    int n = epoll_wait(a->epfd, evs, ACC_EPOLL_BATCH, 0);
    size_t read_total = 0;
    /* a turn ends after ACC_TURN_BUDGET bytes: the events left over are
     * reported again (level-triggered), after this turn's batches went out */
    for (int i = 0; i < n && read_total < ACC_TURN_BUDGET && !a->congested; i++) {
        uint64_t tag = evs[i].data.u64;
        if (tag & ACC_LISTEN_TAG) {
            s_accept(a, (int)(tag & 0xffffffffu));
            continue;
        }
        acc_conn_t *c = acc_conn_find(a, tag);
        if (!c)
            continue;   /* closed earlier in this batch */
        if (evs[i].events & EPOLLOUT)
            s_flush_one(a, c);
        if (a->conns[c->fd] != c)
            continue;
        if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            read_total += s_read(a, c);
    }
}

uint8_t *acc_conn_reserve(acceptor_t *a, acc_conn_t *c, size_t len)
{
    if (c->wcap - c->wlen < len && c->woff > 0 && c->woff >= c->wlen - c->woff) {
        /* what was written is at least what is left: move the rest to the
         * front (paid for by as many bytes written), or a reader that never
         * quite catches up would grow the buffer without end */
        memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
        c->wlen -= c->woff;
        c->woff = 0;
    }
    if (c->wcap - c->wlen < len) {
        size_t cap = c->wcap ? c->wcap : 1024;
        while (cap - c->wlen < len)
            cap *= 2;
        uint8_t *buf = realloc(c->wbuf, cap);
        if (!buf)
            return NULL;
        c->wbuf = buf;
        c->wcap = cap;
    }
    return c->wbuf + c->wlen;
}

void acc_conn_commit(acceptor_t *a, acc_conn_t *c, size_t len)
{
    c->wlen += len;
    if (!c->in_dirty) {
        c->in_dirty = true;
        c->next_dirty = a->dirty;
        a->dirty = c;
    }
}

void acc_conn_write(acceptor_t *a, acc_conn_t *c, const void *data, size_t len)
{
    uint8_t *p = acc_conn_reserve(a, c, len);
    if (!p) {
        acc_conn_close(a, c, "out of memory");
        return;
    }
    memcpy(p, data, len);
    acc_conn_commit(a, c, len);
}

void acc_conn_close_after_flush(acceptor_t *a, acc_conn_t *c)
{
    c->state = ACC_CONN_CLOSING;
    c->reading_paused = true;
    if (!c->in_dirty)
        acc_conn_commit(a, c, 0);
}

static void s_unlink_dirty(acceptor_t *a, acc_conn_t *c)
{
    for (acc_conn_t **p = &a->dirty; *p; p = &(*p)->next_dirty)
        if (*p == c) {
            *p = c->next_dirty;
            return;
        }
}

void acc_conn_close(acceptor_t *a, acc_conn_t *c, const char *why)
{
    if (why)
        nmq_debug("connection %s (%s) closed: %s", acc_conn_peer(c), c->client_id ? c->client_id : "-", why);
    acc_session_closed(a, c);
    if (c->in_dirty)
        s_unlink_dirty(a, c);
    epoll_ctl(a->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    a->conns[c->fd] = NULL;
    a->nconns--;
    a->c.socket_close++;
    free(c->rbuf);
    free(c->wbuf);
    free(c);
}

/* Connect timeouts and keep-alives: one pass a second over the table. */
int acc_net_timers(acceptor_t *a, int64_t now)
{
    for (int fd = 0; fd < a->max_fds; fd++) {
        acc_conn_t *c = a->conns[fd];
        if (c && c->sub_wait_req && now / 1000 - c->sub_wait_s > ACC_SUB_WAIT_S) {
            nmq_warn("client %s (%s): no answer to its (UN)SUBSCRIBE in %d s: its input goes on",
                     c->client_id, acc_conn_peer(c), ACC_SUB_WAIT_S);
            acc_session_resume(a, c);
            c = a->conns[fd];
        }
        if (!c || c->deadline_ms == 0 || now < c->deadline_ms)
            continue;
        if (c->state == ACC_CONN_NEW) {
            acc_conn_close(a, c, "no CONNECT within mqtt_connect_timeout");
        } else if (c->state == ACC_CONN_ONLINE && c->keep_alive) {
            if (now - c->last_rx_ms >= (int64_t)c->keep_alive * 1500) {
                a->c.client_keepalive_expired++;
                nmq_info("client %s (%s): keep-alive expired", c->client_id, acc_conn_peer(c));
                acc_session_disconnect(a, c, 0x8D);   /* keep alive timeout */
            } else {
                c->deadline_ms = c->last_rx_ms + (int64_t)c->keep_alive * 1500;
            }
        }
    }
    return 1000;
}

int acc_net_start(acceptor_t *a)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    a->max_fds = rl.rlim_cur > 1u << 20 ? 1 << 20 : (int)rl.rlim_cur;
    a->conns = calloc((size_t)a->max_fds, sizeof *a->conns);
    a->gens = calloc((size_t)a->max_fds, sizeof *a->gens);
    a->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!a->conns || !a->gens || a->epfd < 0)
        return 1;
    if (s_spare_fd < 0)
        s_spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    const char *names[ACC_MAX_LISTEN], *addrs[ACC_MAX_LISTEN];
    a->nlisten = nmq_worker_listen_fds(a->w, names, addrs, a->listen_fds, ACC_MAX_LISTEN);
    return nmq_worker_watch_fd(a->w, a->epfd, ZMQ_POLLIN, acc_net_on_events, a) < 0 ? 1 : 0;
}

/* Take connections from the inherited listeners (once routing is in sync). */
void acc_net_listen(acceptor_t *a)
{
    for (int i = 0; i < a->nlisten; i++) {
        struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE,
                                  .data.u64 = ACC_LISTEN_TAG | (uint32_t)a->listen_fds[i] };
        epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->listen_fds[i], &ev);
    }
    a->accepting = true;
}

/* Stop accepting; existing connections stay until the caller closes them. */
void acc_net_stop(acceptor_t *a)
{
    for (int i = 0; i < a->nlisten && a->accepting; i++)
        epoll_ctl(a->epfd, EPOLL_CTL_DEL, a->listen_fds[i], NULL);
    a->accepting = false;
}

/* portmap_server — the serving port mapper of a host (protocol in portmap.h).
 *
 * It runs inside the portmap worker of whichever node bound the port first,
 * so it must never block that worker's loop: everything is non-blocking and
 * sits behind one epoll fd, which the worker watches as a single item (the
 * worker's poll table is small; a host may run many nodes).
 *
 * A name belongs to the connection that registered it and dies with it; that
 * is the whole liveness story, as with epmd, because a process that exits or
 * is killed has its sockets closed by the kernel.  The serving node's own name
 * is held by the server itself.  Connections that hold no name and stay
 * silent are closed after a while, so a stray client cannot pin slots.
 */
#include "portmap.h"
#include "nmq_log.h"
#include "nmq_strbuf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define S_MAX_CONNS    256
#define S_IDLE_MS      10000
#define S_OUT_MAX      (64 * 1024)   /* a client that does not read its NAMES is dropped */

typedef struct s_conn {
    int fd;
    char in[PORTMAP_LINE_MAX + 2];
    size_t in_len;
    nmq_strbuf_t out;
    size_t out_off;
    bool closing;                    /* close once out is flushed */
    int64_t last_active_ms;
    char peer[64];
    struct s_conn *next;
} s_conn_t;

typedef struct {
    char name[PORTMAP_NAME_MAX + 1];
    uint16_t port;
    s_conn_t *owner;                 /* NULL: the serving node's own name */
} s_name_t;

struct portmap_server {
    int epfd, listen_fd;
    s_conn_t *conns;
    int nconns;
    s_name_t *names;
    size_t nnames, cap_names;
};

int64_t portmap_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static s_name_t *s_find(portmap_server_t *s, const char *name)
{
    for (size_t i = 0; i < s->nnames; i++)
        if (!strcmp(s->names[i].name, name))
            return &s->names[i];
    return NULL;
}

static void s_add_name(portmap_server_t *s, const char *name, uint16_t port, s_conn_t *owner)
{
    if (s->nnames == s->cap_names) {
        s->cap_names = s->cap_names ? s->cap_names * 2 : 16;
        s->names = realloc(s->names, s->cap_names * sizeof *s->names);
    }
    s_name_t *n = &s->names[s->nnames++];
    snprintf(n->name, sizeof n->name, "%s", name);
    n->port = port;
    n->owner = owner;
}

static void s_close(portmap_server_t *s, s_conn_t *c)
{
    for (size_t i = 0; i < s->nnames;) {
        if (s->names[i].owner == c) {
            nmq_info("portmap: %s unregistered (connection from %s closed)", s->names[i].name, c->peer);
            s->names[i] = s->names[--s->nnames];
        } else {
            i++;
        }
    }
    for (s_conn_t **p = &s->conns; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    nmq_strbuf_free(&c->out);
    free(c);
    s->nconns--;
}

static void s_want(portmap_server_t *s, s_conn_t *c)
{
    struct epoll_event ev = { .events = EPOLLIN | (c->out.len > c->out_off ? EPOLLOUT : 0), .data.ptr = c };
    epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* One send (of what is pending) or recv (into the free room) on c, EINTR
 * retried: the bytes moved, 0 when it would block, -1 when the connection is
 * over, in which case c is closed and freed. */
static ssize_t s_transfer(portmap_server_t *s, s_conn_t *c, bool sending)
{
    ssize_t n;
    do
        n = sending ? send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL)
                    : recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (n <= 0) {
        s_close(s, c);
        return -1;
    }
    return n;
}

/* 0, or -1 when c was closed */
static int s_flush(portmap_server_t *s, s_conn_t *c)
{
    ssize_t n = 0;
    while (c->out_off < c->out.len && (n = s_transfer(s, c, true)) > 0)
        c->out_off += (size_t)n;
    if (n < 0)
        return -1;
    if (c->out_off == c->out.len) {
        c->out.len = c->out_off = 0;
        if (c->closing) {
            s_close(s, c);
            return -1;
        }
    } else if (c->out.len - c->out_off > S_OUT_MAX) {
        s_close(s, c);
        return -1;
    }
    s_want(s, c);
    return 0;
}

/* --- requests: one handler per verb --------------------------------------------- */

typedef void (s_handler_fn)(portmap_server_t *s, s_conn_t *c, const portmap_request_t *req);

static void s_register(portmap_server_t *s, s_conn_t *c, const portmap_request_t *req)
{
    if (s_find(s, req->name)) {
        nmq_warn("portmap: %s (from %s) refused: the name is registered by a live node", req->name, c->peer);
        nmq_strbuf_puts(&c->out, "ERR name in use\n");
        return;
    }
    s_add_name(s, req->name, req->port, c);
    nmq_info("portmap: %s registered, cluster port %u (from %s)", req->name, req->port, c->peer);
    nmq_strbuf_puts(&c->out, "OK\n");
}

static void s_lookup(portmap_server_t *s, s_conn_t *c, const portmap_request_t *req)
{
    const s_name_t *n = s_find(s, req->name);
    if (n)
        nmq_strbuf_printf(&c->out, "PORT %u\n", n->port);
    else
        nmq_strbuf_puts(&c->out, "ERR not registered\n");
}

static void s_names(portmap_server_t *s, s_conn_t *c, const portmap_request_t *req)
{
    for (size_t i = 0; i < s->nnames; i++)
        nmq_strbuf_printf(&c->out, "NAME %s %u\n", s->names[i].name, s->names[i].port);
    nmq_strbuf_puts(&c->out, "END\n");
}

static void s_ping(portmap_server_t *s, s_conn_t *c, const portmap_request_t *req)
{
    nmq_strbuf_puts(&c->out, "PONG\n");
}

static s_handler_fn *const s_handlers[] = {
    [PORTMAP_REGISTER] = s_register,
    [PORTMAP_LOOKUP] = s_lookup,
    [PORTMAP_NAMES] = s_names,
    [PORTMAP_PING] = s_ping,
};

/* 0, or -1 when c was closed */
static int s_read(portmap_server_t *s, s_conn_t *c)
{
    ssize_t n;
    while ((n = s_transfer(s, c, false)) > 0) {
        c->in_len += (size_t)n;
        size_t line_len, used;
        int rc;
        while (!c->closing && (rc = portmap_next_line(c->in, c->in_len, &line_len, &used)) != 0) {
            portmap_request_t req;
            const char *why = "line too long";
            if (rc < 0 || portmap_parse_request(c->in, line_len, &req, &why) < 0) {
                nmq_strbuf_printf(&c->out, "ERR %s\n", why);
                c->closing = true;
                break;
            }
            s_handlers[req.verb](s, c, &req);
            memmove(c->in, c->in + used, c->in_len - used);
            c->in_len -= used;
        }
        if (c->closing) {
            c->in_len = 0;
            break;
        }
    }
    if (n < 0)
        return -1;
    c->last_active_ms = portmap_now_ms();
    return s_flush(s, c);
}

static void s_accept(portmap_server_t *s)
{
    for (;;) {
        struct sockaddr_storage sa;
        socklen_t salen = sizeof sa;
        int fd = accept4(s->listen_fd, (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;   /* EAGAIN, or a connection that died before we took it */
        if (s->nconns >= S_MAX_CONNS) {
            nmq_warn("portmap: %d connections open, refusing another", s->nconns);
            close(fd);
            continue;
        }
        s_conn_t *c = calloc(1, sizeof *c);
        c->fd = fd;
        c->last_active_ms = portmap_now_ms();
        char host[48] = "?";
        unsigned port = 0;
        if (sa.ss_family == AF_INET) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)&sa;
            inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
            port = ntohs(in->sin_port);
        } else if (sa.ss_family == AF_INET6) {
            const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&sa;
            inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
            port = ntohs(in6->sin6_port);
        }
        snprintf(c->peer, sizeof c->peer, "%s:%u", host, port);
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev);
        c->next = s->conns;
        s->conns = c;
        s->nconns++;
    }
}

portmap_server_t *portmap_server_new(int listen_fd, const char *self_name, uint16_t self_port)
{
    portmap_server_t *s = calloc(1, sizeof *s);
    s->listen_fd = listen_fd;
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    if (s->epfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, listen_fd, &ev) < 0) {
        nmq_error("portmap: epoll: %s", strerror(errno));
        portmap_server_destroy(&s);
        return NULL;
    }
    s_add_name(s, self_name, self_port, NULL);
    return s;
}

int portmap_server_fd(const portmap_server_t *s) { return s->epfd; }
size_t portmap_server_names(const portmap_server_t *s) { return s->nnames; }

void portmap_server_io(portmap_server_t *s)
{
    struct epoll_event evs[64];
    int n = epoll_wait(s->epfd, evs, 64, 0);
    /* Only the connection at hand is ever closed here, and each fd appears
     * once per epoll_wait, so no event below points to a freed connection. */
    for (int i = 0; i < n; i++) {
        s_conn_t *c = evs[i].data.ptr;
        if (!c) {
            s_accept(s);
            continue;
        }
        if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            if (s_read(s, c) < 0)
                continue;
        }
        if (evs[i].events & EPOLLOUT)
            s_flush(s, c);
    }
}

int portmap_server_tick(portmap_server_t *s, int64_t now)
{
    for (s_conn_t *c = s->conns, *next; c; c = next) {
        next = c->next;
        bool holds = false;
        for (size_t i = 0; i < s->nnames && !holds; i++)
            holds = s->names[i].owner == c;
        if (!holds && now - c->last_active_ms > S_IDLE_MS)
            s_close(s, c);
    }
    return 1000;
}

void portmap_server_destroy(portmap_server_t **sp)
{
    portmap_server_t *s = *sp;
    if (!s)
        return;
    while (s->conns)
        s_close(s, s->conns);
    if (s->epfd >= 0)
        close(s->epfd);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    free(s->names);
    free(s);
    *sp = NULL;
}

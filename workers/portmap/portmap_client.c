/* portmap_client — the asking side of the port mapper (protocol in
 * portmap.h): the portmap worker registers its node through it, the cluster
 * worker looks peers up through it.  Both run inside a worker loop that must
 * never block, so a request is a non-blocking connection driven by the
 * loop's poll: connect, write the line, read reply lines as they come.
 *
 * portmap_conn_t is the connection; portmap_lookup_t wraps one LOOKUP with
 * its own watch on the worker's loop and a deadline, for callers that only
 * want an answer.
 */
#include "portmap.h"
#include "nmq_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

struct portmap_conn {
    int fd;
    bool connected;
    char out[PORTMAP_LINE_MAX + 2];
    size_t out_len, out_off;
    char in[PORTMAP_LINE_MAX + 2];
    size_t in_len;
    char err[160];
};

int portmap_resolve(const char *host, uint16_t port, struct sockaddr_storage *sa, socklen_t *salen,
                    char *err, size_t errlen)
{
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc == EAI_NONAME) {
        hints.ai_flags = AI_NUMERICSERV;   /* a host name: may block on DNS */
        rc = getaddrinfo(host, service, &hints, &res);
    }
    if (rc != 0 || !res) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *salen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

portmap_conn_t *portmap_conn_new(const char *host, uint16_t port, const char *line, char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    if (portmap_resolve(host, port, &sa, &salen, err, errlen) < 0)
        return NULL;
    size_t n = strlen(line);
    if (n > PORTMAP_LINE_MAX) {
        snprintf(err, errlen, "request too long");
        return NULL;
    }
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return NULL;
    }
    portmap_conn_t *c = calloc(1, sizeof *c);
    c->fd = fd;
    memcpy(c->out, line, n);
    c->out_len = n;
    if (connect(fd, (struct sockaddr *)&sa, salen) == 0)
        c->connected = true;
    else if (errno != EINPROGRESS)
        snprintf(c->err, sizeof c->err, "connect to %s:%u: %s", host, port, strerror(errno));
    return c;
}

int portmap_conn_fd(const portmap_conn_t *c) { return c->fd; }
const char *portmap_conn_error(const portmap_conn_t *c) { return c->err; }

short portmap_conn_events(const portmap_conn_t *c)
{
    return !c->connected || c->out_off < c->out_len ? ZMQ_POLLOUT : ZMQ_POLLIN;
}

static int s_fail(portmap_conn_t *c, const char *what, int e)
{
    if (!c->err[0])
        snprintf(c->err, sizeof c->err, "%s: %s", what, e ? strerror(e) : "closed by the port mapper");
    return PORTMAP_CONN_CLOSED;
}

int portmap_conn_io(portmap_conn_t *c, short revents, portmap_reply_t *reply)
{
    if (c->err[0])
        return PORTMAP_CONN_CLOSED;
    if (!c->connected && (revents & (ZMQ_POLLOUT | ZMQ_POLLERR))) {
        int e = 0;
        socklen_t len = sizeof e;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len);
        if (e)
            return s_fail(c, "connect", e);
        c->connected = true;
    }
    if (!c->connected)
        return PORTMAP_CONN_AGAIN;
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return PORTMAP_CONN_AGAIN;
        if (n <= 0)
            return s_fail(c, "send", errno);
        c->out_off += (size_t)n;
    }
    if (revents & (ZMQ_POLLIN | ZMQ_POLLERR)) {
        ssize_t n;
        while ((n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0)) < 0 && errno == EINTR)
            ;
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            return s_fail(c, "receive", n == 0 ? 0 : errno);
        if (n > 0)
            c->in_len += (size_t)n;
    }
    size_t line_len, used;
    int rc = portmap_next_line(c->in, c->in_len, &line_len, &used);
    if (rc == 0)
        return PORTMAP_CONN_AGAIN;
    if (rc < 0 || portmap_parse_reply(c->in, line_len, reply) < 0) {
        snprintf(c->err, sizeof c->err, "not a port mapper's answer: '%.*s'", (int)(rc < 0 ? 40 : line_len),
                 c->in);
        return PORTMAP_CONN_CLOSED;
    }
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    return PORTMAP_CONN_REPLY;
}

int portmap_conn_watch(nmq_worker_t *w, portmap_conn_t *c, short *watching, nmq_worker_io_fn *fn, void *arg)
{
    short want = portmap_conn_events(c);
    if (want == *watching)
        return 0;
    if (*watching)
        nmq_worker_unwatch_fd(w, c->fd);
    *watching = 0;
    if (nmq_worker_watch_fd(w, c->fd, want, fn, arg) < 0)
        return -1;
    *watching = want;
    return 0;
}

void portmap_conn_destroy(portmap_conn_t **cp)
{
    portmap_conn_t *c = *cp;
    if (!c)
        return;
    close(c->fd);
    free(c);
    *cp = NULL;
}

/* --- one LOOKUP on a worker's loop ------------------------------------------------ */

struct portmap_lookup {
    nmq_worker_t *w;
    portmap_conn_t *conn;
    short watching;
    int64_t deadline_ms;
    portmap_lookup_fn *fn;
    void *arg;
    char what[PORTMAP_NAME_MAX + 300];   /* "c1 on 127.0.0.1:4369" */
};

static void s_lookup_free(portmap_lookup_t *l)
{
    if (l->watching)
        nmq_worker_unwatch_fd(l->w, portmap_conn_fd(l->conn));
    portmap_conn_destroy(&l->conn);
    free(l);
}

static void s_lookup_finish(portmap_lookup_t *l, int port, const char *err)
{
    portmap_lookup_fn *fn = l->fn;
    void *arg = l->arg;
    s_lookup_free(l);
    fn(arg, port, err);
}

static void s_lookup_io(nmq_worker_t *w, void *arg, short revents)
{
    portmap_lookup_t *l = arg;
    portmap_reply_t r;
    char err[PORTMAP_LINE_MAX + 400];
    int rc = portmap_conn_io(l->conn, revents, &r);
    if (rc == PORTMAP_CONN_CLOSED) {
        snprintf(err, sizeof err, "port mapper %s: %s", l->what, portmap_conn_error(l->conn));
        s_lookup_finish(l, -1, err);
    } else if (rc == PORTMAP_CONN_REPLY && r.kind == PORTMAP_R_PORT) {
        s_lookup_finish(l, r.port, NULL);
    } else if (rc == PORTMAP_CONN_REPLY) {
        snprintf(err, sizeof err, "port mapper %s: %s", l->what,
                 r.kind == PORTMAP_R_ERR ? r.text : "unexpected answer");
        s_lookup_finish(l, -1, err);
    } else {
        portmap_conn_watch(w, l->conn, &l->watching, s_lookup_io, l);
    }
}

portmap_lookup_t *portmap_lookup_start(nmq_worker_t *w, const char *host, uint16_t pm_port, const char *name,
                                       int timeout_ms, portmap_lookup_fn *fn, void *arg, char *err,
                                       size_t errlen)
{
    char line[PORTMAP_LINE_MAX + 2];
    portmap_request_t req = { .verb = PORTMAP_LOOKUP };
    snprintf(req.name, sizeof req.name, "%s", name);
    portmap_lookup_t *l = calloc(1, sizeof *l);
    l->w = w;
    l->fn = fn;
    l->arg = arg;
    l->deadline_ms = portmap_now_ms() + timeout_ms;
    snprintf(l->what, sizeof l->what, "%s:%u (looking up %s)", host, pm_port, name);
    if (portmap_format_request(&req, line, sizeof line) < 0 ||
        !(l->conn = portmap_conn_new(host, pm_port, line, err, errlen))) {
        free(l);
        return NULL;
    }
    if (portmap_conn_watch(w, l->conn, &l->watching, s_lookup_io, l) < 0) {
        snprintf(err, errlen, "too many sockets watched");
        s_lookup_free(l);
        return NULL;
    }
    return l;
}

int portmap_lookup_expire(portmap_lookup_t **lp, int64_t now)
{
    portmap_lookup_t *l = *lp;
    if (!l)
        return -1;
    if (now < l->deadline_ms)
        return (int)(l->deadline_ms - now);
    *lp = NULL;
    char err[PORTMAP_NAME_MAX + 340];
    snprintf(err, sizeof err, "port mapper %s: no answer in time", l->what);
    s_lookup_finish(l, -1, err);
    return 0;
}

void portmap_lookup_cancel(portmap_lookup_t **lp)
{
    if (*lp)
        s_lookup_free(*lp);
    *lp = NULL;
}

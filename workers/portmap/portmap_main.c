/* portmap — "nemomq: portmap": the host's name -> cluster port map (epmd's
 * job), shared by every node whose nodename has the same host part.
 *
 * Every node runs this worker; which one serves is decided by the kernel:
 * each tries to bind host:portmap.port, the first wins and serves
 * (portmap_server.c), a worker that finds the port taken registers its node
 * with the one serving and holds that connection open for as long as the node
 * lives, so its name goes away when it dies.  When the serving node stops or
 * dies, every registered worker sees its connection close, goes back to
 * binding (after a short random delay, so that they do not all knock at
 * once), and the same race makes one of them the new server while the others
 * register with it.  Nothing is handed over: the map is rebuilt from the
 * registrations, the only source of truth, in the time it takes to reconnect.
 *
 * A refused registration ("name in use": another live node has this name on
 * this host) is logged as an error and retried, so the name is ours as soon
 * as the other node goes.  Nothing here may stop the node: a port mapper that
 * cannot work (an address that is not local, a foreign program on the port)
 * logs why once and keeps trying, and the node runs on without it.
 */
#include "portmap.h"
#include "roles.h"
#include "nmq_log.h"
#include "nmq_worker.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#define S_RETRY_MS        5000    /* after an error that waiting may cure */
#define S_REGISTER_MS     3000    /* a registration must be answered by then */
#define S_JITTER_MS       250     /* spread of the retries after the server went away */

typedef enum { S_IDLE, S_SERVING, S_REGISTERING, S_REGISTERED } s_state_t;

typedef struct {
    nmq_worker_t *w;
    s_state_t state;
    char name[PORTMAP_NAME_MAX + 1];
    char host[NMQ_CONF_STR_MAX];
    uint16_t port;                  /* portmap.port */
    uint16_t cluster_port;          /* what our name maps to */
    int64_t next_try_ms;
    int64_t deadline_ms;            /* S_REGISTERING */
    portmap_server_t *server;
    portmap_conn_t *conn;
    short watching;
    unsigned seed;
    char last_error[256];           /* logged once until it changes */
} s_portmap_t;

static void s_problem(s_portmap_t *p, bool error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void s_problem(s_portmap_t *p, bool error, const char *fmt, ...)
{
    char why[sizeof p->last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (strcmp(why, p->last_error))
        nmq_log(error ? NMQ_LOG_ERROR : NMQ_LOG_WARNING, "portmap: %s", why);
    snprintf(p->last_error, sizeof p->last_error, "%s", why);
}

static void s_retry(s_portmap_t *p, int ms)
{
    if (p->conn) {
        if (p->watching)
            nmq_worker_unwatch_fd(p->w, portmap_conn_fd(p->conn));
        portmap_conn_destroy(&p->conn);
    }
    p->watching = 0;
    p->state = S_IDLE;
    p->next_try_ms = portmap_now_ms() + ms;
}

static int s_jitter(s_portmap_t *p) { return 20 + rand_r(&p->seed) % S_JITTER_MS; }

static void s_on_server(nmq_worker_t *w, void *arg, short revents)
{
    s_portmap_t *p = arg;
    portmap_server_io(p->server);
}

static void s_on_conn(nmq_worker_t *w, void *arg, short revents)
{
    s_portmap_t *p = arg;
    portmap_reply_t r;
    int rc;
    while ((rc = portmap_conn_io(p->conn, revents, &r)) == PORTMAP_CONN_REPLY) {
        revents = 0;
        if (p->state == S_REGISTERING && r.kind == PORTMAP_R_OK) {
            p->state = S_REGISTERED;
            p->last_error[0] = '\0';
            nmq_info("portmap: %s registered with the port mapper on %s:%u (cluster port %u)", p->name, p->host,
                     p->port, p->cluster_port);
        } else if (p->state == S_REGISTERING && r.kind == PORTMAP_R_ERR) {
            s_problem(p, true, "the port mapper on %s:%u refused %s: %s (is a node of that name already running "
                      "on this host?); retrying", p->host, p->port, p->name, r.text);
            s_retry(p, S_RETRY_MS);
            return;
        }
        /* anything else on a held registration is ignored */
    }
    if (rc == PORTMAP_CONN_CLOSED) {
        if (p->state == S_REGISTERED)
            nmq_info("portmap: the port mapper on %s:%u went away (%s); taking over or registering again",
                     p->host, p->port, portmap_conn_error(p->conn));
        /* refused or reset: the holder of the port is gone or not listening
         * yet; race for it again soon */
        s_retry(p, s_jitter(p));
        return;
    }
    portmap_conn_watch(w, p->conn, &p->watching, s_on_conn, p);
}

static void s_register(s_portmap_t *p)
{
    portmap_request_t req = { .verb = PORTMAP_REGISTER, .port = p->cluster_port };
    char line[PORTMAP_LINE_MAX + 2], err[256];
    snprintf(req.name, sizeof req.name, "%s", p->name);
    portmap_format_request(&req, line, sizeof line);
    p->conn = portmap_conn_new(p->host, p->port, line, err, sizeof err);
    if (!p->conn) {
        s_problem(p, true, "cannot register with %s:%u: %s", p->host, p->port, err);
        s_retry(p, S_RETRY_MS);
        return;
    }
    p->state = S_REGISTERING;
    p->deadline_ms = portmap_now_ms() + S_REGISTER_MS;
    if (portmap_conn_watch(p->w, p->conn, &p->watching, s_on_conn, p) < 0)
        s_retry(p, S_RETRY_MS);
}

/* Bind and listen on host:port: the fd, or -1 with errno (EADDRINUSE: taken). */
static int s_listen(s_portmap_t *p, char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    if (portmap_resolve(p->host, p->port, &sa, &salen, err, errlen) < 0) {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&sa, salen) < 0 || listen(fd, 128) < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot listen on %s:%u: %s", p->host, p->port, strerror(e));
        if (fd >= 0)
            close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static void s_try(s_portmap_t *p)
{
    char err[320];
    int fd = s_listen(p, err, sizeof err);
    if (fd < 0 && errno == EADDRINUSE) {
        s_register(p);
        return;
    }
    if (fd < 0) {
        s_problem(p, true, "%s; retrying every %d s", err, S_RETRY_MS / 1000);
        s_retry(p, S_RETRY_MS);
        return;
    }
    p->server = portmap_server_new(fd, p->name, p->cluster_port);
    if (!p->server || nmq_worker_watch_fd(p->w, portmap_server_fd(p->server), ZMQ_POLLIN, s_on_server, p) < 0) {
        portmap_server_destroy(&p->server);
        s_retry(p, S_RETRY_MS);
        return;
    }
    p->state = S_SERVING;
    p->last_error[0] = '\0';
    nmq_info("portmap: serving %s:%u for this host's nodes (%s -> cluster port %u)", p->host, p->port, p->name,
             p->cluster_port);
}

/* The port of listener.vmq.clustering ("ip:port", "[v6]:port"). */
static uint16_t s_cluster_port(const nmq_config_t *cfg)
{
    const char *colon = strrchr(cfg->listener_vmq_clustering, ':');
    return colon ? (uint16_t)atoi(colon + 1) : 0;
}

static int s_start(nmq_worker_t *w)
{
    s_portmap_t *p = calloc(1, sizeof *p);
    const nmq_config_t *cfg = nmq_worker_config(w);
    nmq_worker_set_data(w, p);
    p->w = w;
    p->seed = (unsigned)getpid();
    p->port = (uint16_t)cfg->portmap_port;
    p->cluster_port = s_cluster_port(cfg);
    if (portmap_split_nodename(cfg->nodename, p->name, sizeof p->name, p->host, sizeof p->host) < 0) {
        nmq_error("portmap: nodename %s is not name@host", cfg->nodename);
        return NMQ_EXIT_CONFIG;
    }
    p->next_try_ms = portmap_now_ms();
    return 0;
}

static int s_tick(nmq_worker_t *w)
{
    s_portmap_t *p = nmq_worker_data(w);
    int64_t now = portmap_now_ms();
    if (p->state == S_IDLE && now >= p->next_try_ms)
        s_try(p);
    if (p->state == S_REGISTERING && now >= p->deadline_ms) {
        s_problem(p, false, "no answer from the port mapper on %s:%u within %d ms; retrying", p->host, p->port,
                  S_REGISTER_MS);
        s_retry(p, s_jitter(p));
    }
    switch (p->state) {
    case S_IDLE:
        return (int)(p->next_try_ms > now ? p->next_try_ms - now : 0);
    case S_REGISTERING:
        return (int)(p->deadline_ms > now ? p->deadline_ms - now : 0);
    case S_SERVING:
        return portmap_server_tick(p->server, now);
    default:
        return -1;
    }
}

static void s_status(nmq_worker_t *w, char *buf, size_t len)
{
    const s_portmap_t *p = nmq_worker_data(w);
    if (!p)
        return;
    switch (p->state) {
    case S_SERVING:
        snprintf(buf, len, "serving %s:%u, %zu names", p->host, p->port, portmap_server_names(p->server));
        break;
    case S_REGISTERED:
        snprintf(buf, len, "registered %s with %s:%u", p->name, p->host, p->port);
        break;
    default:
        snprintf(buf, len, "registering %s with %s:%u%s%s", p->name, p->host, p->port,
                 p->last_error[0] ? ": " : "", p->last_error);
        break;
    }
}

static void s_destroy(nmq_worker_t *w)
{
    s_portmap_t *p = nmq_worker_data(w);
    if (!p)
        return;
    if (p->server) {
        nmq_worker_unwatch_fd(w, portmap_server_fd(p->server));
        portmap_server_destroy(&p->server);   /* the others see EOF and take over */
    }
    s_retry(p, 0);
    free(p);
}

static const nmq_role_t s_role = {
    .name = "portmap",
    .start = s_start,
    .tick = s_tick,
    .destroy = s_destroy,
    .status = s_status,
};

int portmap_main(void) { return nmq_worker_main(&s_role); }

/* sup_listen — the supervisor opens every MQTT listener itself, before any
 * acceptor exists, and hands the same sockets to each acceptor it starts.  A
 * restarted acceptor therefore finds the connections that queued up while it
 * was down: the kernel kept them in the shared backlog.  Sockets are
 * non-blocking (several acceptors accept from one) and CLOEXEC: the spawn code
 * passes them on deliberately, to acceptors only.  TCP_NODELAY is set here,
 * once: Linux copies it to every accepted socket, which saves an acceptor a
 * system call per connection (check_sup_listen holds the kernel to it).
 */
#include "sup_node.h"
#include "nmq_log.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SUP_LISTEN_BACKLOG 4096

static int s_open_one(const nmq_listener_conf_t *lc, char *err, size_t errlen)
{
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)lc->port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(lc->host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "listener.%s.%s = %s:%u: %s", lc->kind, lc->name, lc->host,
                 (unsigned)lc->port, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, SUP_LISTEN_BACKLOG) < 0) {
        snprintf(err, errlen, "listener.%s.%s: cannot listen on %s:%u: %s", lc->kind, lc->name,
                 lc->host, (unsigned)lc->port, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

int sup_listen_open(sup_node_t *node, char *err, size_t errlen)
{
    const nmq_config_t *cfg = node->cfg;
    for (int i = 0; i < cfg->nr_listeners; i++) {
        const nmq_listener_conf_t *lc = &cfg->listeners[i];
        int fd = s_open_one(lc, err, errlen);
        if (fd < 0) {
            sup_listen_close(node);
            return -1;
        }
        sup_listener_t *l = &node->listeners[node->nlisteners++];
        snprintf(l->name, sizeof l->name, "%s.%s", lc->kind, lc->name);
        snprintf(l->addr, sizeof l->addr, strchr(lc->host, ':') ? "[%s]:%u" : "%s:%u",
                 lc->host, (unsigned)lc->port);
        l->fd = fd;
        nmq_info("listening on %s (%s)", l->addr, l->name);
    }
    return 0;
}

void sup_listen_close(sup_node_t *node)
{
    for (int i = 0; i < node->nlisteners; i++)
        close(node->listeners[i].fd);
    node->nlisteners = 0;
}

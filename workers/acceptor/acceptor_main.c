/* acceptor — "nemomq: acceptor N": owns MQTT connections.
 *
 * Every acceptor inherits all of the node's listening sockets from the
 * supervisor (fds 3.., named in NMQ_LISTEN_FDS) and accepts from them
 * directly; the kernel hands each connection to one of them.  Until the
 * session layer lands (issue: single-node broker) a connection is accepted and
 * closed at once, and counted, so the process tree and the fd hand-over can be
 * tested for real.
 */
#include "roles.h"
#include "nmq_log.h"
#include "nmq_worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#define ACCEPTOR_MAX_LISTEN 16

typedef struct {
    unsigned long long accepted;
    int nlisten;
} acceptor_t;

static void s_on_accept(nmq_worker_t *w, void *arg, short revents)
{
    acceptor_t *self = nmq_worker_data(w);
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR)
                nmq_warn("accept: %s", strerror(errno));
            return;
        }
        self->accepted++;
        close(fd);
    }
}

static int s_start(nmq_worker_t *w)
{
    acceptor_t *self = calloc(1, sizeof *self);
    nmq_worker_set_data(w, self);
    const char *names[ACCEPTOR_MAX_LISTEN], *addrs[ACCEPTOR_MAX_LISTEN];
    int fds[ACCEPTOR_MAX_LISTEN];
    self->nlisten = nmq_worker_listen_fds(w, names, addrs, fds, ACCEPTOR_MAX_LISTEN);
    for (int i = 0; i < self->nlisten; i++) {
        nmq_worker_watch_fd(w, fds[i], ZMQ_POLLIN, s_on_accept, (void *)(intptr_t)fds[i]);
        nmq_debug("accepting on %s (%s, fd %d)", addrs[i], names[i], fds[i]);
    }
    return 0;
}

static void s_status(nmq_worker_t *w, char *buf, size_t len)
{
    const acceptor_t *self = nmq_worker_data(w);
    snprintf(buf, len, "listeners %d, accepted %llu", self->nlisten, self->accepted);
}

static void s_destroy(nmq_worker_t *w)
{
    free(nmq_worker_data(w));
}

static const nmq_role_t s_role = {
    .name = "acceptor",
    .start = s_start,
    .status = s_status,
    .destroy = s_destroy,
};

int acceptor_main(void) { return nmq_worker_main(&s_role); }

/* nmq_worker — the runtime every worker process shares.
 *
 * A worker is the nemomq binary exec'd by the supervisor with NMQ_ROLE,
 * NMQ_SLOT and NMQ_CONTROL in its environment (so `ps` shows only its title,
 * "nemomq: acceptor 0 [node]").  The runtime connects a DEALER to the
 * supervisor's workers.sock, says HELLO, waits for WELCOME with the node's
 * normalized config, starts the role, says READY, and then runs one poll loop
 * over the control socket, SIGTERM and whatever the role watches.  It
 * heartbeats every supervisor.heartbeat_interval; the supervisor kills a worker
 * silent for three intervals (Paranoid Pirate), so a role must never block the
 * loop.  STOP (or SIGTERM) asks the role to finish; RELOAD swaps the config.
 *
 * The role is a table of callbacks (nmq_role_t); everything else is here once.
 */
#ifndef NMQ_WORKER_H
#define NMQ_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "nmq_config.h"

struct Nmq__Ctl;   /* control.pb-c.h */

typedef struct nmq_worker nmq_worker_t;
typedef void (nmq_worker_io_fn)(nmq_worker_t *w, void *arg, short revents);

typedef struct nmq_role {
    const char *name;
    /* After WELCOME: the config is known.  Open what the role needs and watch
     * it.  0 to go on; anything else is the process's exit status (use
     * NMQ_EXIT_CONFIG for a fatal, never-restart error). */
    int (*start)(nmq_worker_t *w);
    /* A new config is in place (nmq_worker_config, same pointer as before:
     * it is updated in place); old is a copy of the previous one. */
    void (*reload)(nmq_worker_t *w, const nmq_config_t *old);
    /* STOP or SIGTERM: finish, then call nmq_worker_exit().  NULL: exit at once. */
    void (*stop)(nmq_worker_t *w);
    /* Called every loop turn; returns ms until it wants to run again, -1 none. */
    int (*tick)(nmq_worker_t *w);
    /* The role's last breath before the process exits (close, flush). */
    void (*destroy)(nmq_worker_t *w);
    /* One line of status sent with READY and heartbeats (optional). */
    void (*status)(nmq_worker_t *w, char *buf, size_t len);
    /* The role's metrics, sent with every heartbeat (optional): call
     * nmq_worker_metric() for each. */
    void (*metrics)(nmq_worker_t *w);
    /* A control command the runtime does not handle itself (SYSTREE). */
    void (*control)(nmq_worker_t *w, const struct Nmq__Ctl *msg);
} nmq_role_t;

/* Answer a QUERY (from role->control): see nmq_ctl_reply_query. */
int nmq_worker_reply_query(nmq_worker_t *w, uint64_t query, int status, const char *err,
                           const char *const *columns, size_t ncols, char *const *cells, size_t nrows);

/* From role->metrics: one counter (monotonic) or gauge (a level). */
void nmq_worker_metric(nmq_worker_t *w, const char *name, uint64_t value, bool gauge);

/* The main of a worker process: returns its exit status. */
int nmq_worker_main(const nmq_role_t *role);

const nmq_config_t *nmq_worker_config(const nmq_worker_t *w);
const char *nmq_worker_role(const nmq_worker_t *w);
int nmq_worker_slot(const nmq_worker_t *w);
void *nmq_worker_zctx(nmq_worker_t *w);
void nmq_worker_set_data(nmq_worker_t *w, void *data);
void *nmq_worker_data(const nmq_worker_t *w);
bool nmq_worker_stopping(const nmq_worker_t *w);

/* Watch an fd or a ZeroMQ socket (events: ZMQ_POLLIN / ZMQ_POLLOUT). */
int nmq_worker_watch_fd(nmq_worker_t *w, int fd, short events, nmq_worker_io_fn *fn, void *arg);
int nmq_worker_watch_socket(nmq_worker_t *w, void *sock, short events, nmq_worker_io_fn *fn, void *arg);
void nmq_worker_unwatch_fd(nmq_worker_t *w, int fd);
/* Stop (or resume) reporting a watched fd's events, keeping its watch: an
 * epoll_ctl MOD, where unwatching and watching again is a DEL and an ADD,
 * and an ADD of an epoll fd makes the kernel walk every fd inside it (the
 * acceptor's epoll holds all its connections). */
void nmq_worker_pause_fd(nmq_worker_t *w, int fd, bool paused);
void nmq_worker_unwatch_socket(nmq_worker_t *w, void *sock);
/* This process is sending on sock: ZeroMQ may take the wake-up that
 * announced input with the send, so the loop asks the socket itself before
 * it blocks.  Called by every sender (nmq_batch, nmq_ctl, the cluster's
 * links, bridge and ZAP); a no-op outside a worker or for sockets not watched. */
void nmq_worker_socket_used(void *sock);

/* Leave the loop; the process exits with status after role->destroy. */
void nmq_worker_exit(nmq_worker_t *w, int status);

/* Listening sockets inherited from the supervisor (NMQ_LISTEN_FDS).  Returns
 * how many; names[i] is "tcp.default", addrs[i] "127.0.0.1:1883". */
int nmq_worker_listen_fds(const nmq_worker_t *w, const char **names, const char **addrs,
                          int *fds, int max);

/* The environment protocol between the supervisor and a worker it execs. */
#define NMQ_ENV_ROLE       "NMQ_ROLE"
#define NMQ_ENV_SLOT       "NMQ_SLOT"
#define NMQ_ENV_CONTROL    "NMQ_CONTROL"      /* ipc endpoint of workers.sock */
#define NMQ_ENV_LISTEN_FDS "NMQ_LISTEN_FDS"   /* "tcp.default=127.0.0.1:1883=3;..." */
#define NMQ_ENV_NODENAME   "NMQ_NODENAME"

#endif

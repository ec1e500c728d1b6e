/* sup_node — the running supervisor of one node (the process titled
 * "nemomq: supervisor").  It owns the config, the listening sockets, the two
 * control sockets and the table of children; it never touches MQTT traffic.
 * sup_node.c runs it; sup_admin.c answers nemomq-admin from the same state.
 */
#ifndef SUP_NODE_H
#define SUP_NODE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "nmq_config.h"
#include "nmq_strbuf.h"
#include "sup_metrics.h"
#include "sup_query.h"
#include "sup_spec.h"

typedef enum {
    SUP_CHILD_STARTING,   /* forked, no READY yet */
    SUP_CHILD_RUNNING,    /* READY */
    SUP_CHILD_STOPPING,   /* STOP sent; killed at stop_deadline */
    SUP_CHILD_DOWN        /* not running (between exit and restart) */
} sup_child_state_t;

typedef struct sup_child {
    const sup_spec_t *spec;
    int slot;
    pid_t pid;
    sup_child_state_t state;
    unsigned restarts;
    int64_t started_ms;        /* monotonic */
    int64_t last_seen_ms;      /* any message counts as a heartbeat */
    int64_t stop_deadline_ms;
    bool retire;               /* leaving for good (pool shrink): no restart */
    bool restart_pending;      /* stopped because a sibling crashed (rest_for_one) */
    char info[256];            /* the worker's last status line */
    sup_metrics_t metrics;     /* its last reported metrics */
} sup_child_t;

typedef struct sup_listener {
    char name[80];             /* "tcp.default" */
    char addr[NMQ_CONF_STR_MAX + 8];
    int fd;
} sup_listener_t;

typedef struct sup_node {
    nmq_config_t *cfg;
    uint64_t generation;
    bool console;              /* `nemomq console`: logs on stderr too */
    bool daemon;               /* `nemomq start`: stderr is a pipe to the starter until ready */
    char self_exe[NMQ_CONF_PATH_MAX];
    char run_dir[NMQ_CONF_PATH_MAX + 8];
    char pid_file[NMQ_CONF_PATH_MAX + 16];
    char workers_ep[NMQ_CONF_PATH_MAX + 32];
    char control_ep[NMQ_CONF_PATH_MAX + 32];
    int lock_fd, data_lock_fd, sig_fd, devnull_fd;
    void *zctx, *workers_sock, *control_sock;
    sup_listener_t listeners[NMQ_MAX_LISTENERS];
    int nlisteners;
    sup_child_t *children;     /* start order: spec order, then slot */
    int nchildren, cap_children;
    sup_intensity_t intensity;
    int64_t started_ms;
    time_t started_wall;
    int64_t next_heartbeat_ms;
    bool shutting_down;
    int exit_status;
    uint64_t hb_seq;
    sup_metrics_t retired;     /* counters of workers that exited */
    sup_query_t *queries;      /* admin requests waiting for workers */
    struct {                   /* the admin request being handled */
        char id[256];
        size_t id_len;
        bool json;
    } admin_ctx;
    int64_t next_systree_ms;
} sup_node_t;

/* `nemomq console` / `nemomq start` end up here, in the process titled
 * "nemomq: supervisor".  Returns the process exit status. */
int sup_node_main(void);

/* Re-read the config file; an invalid one is refused and the old one stays.
 * 0 ok, -1 with err set. */
int sup_node_reload(sup_node_t *node, char *err, size_t errlen);
/* `set KEY=VALUE` on the running node (live keys only). */
int sup_node_set(sup_node_t *node, const char *key, const char *value, char *err, size_t errlen);
/* Begin an orderly stop (reverse start order) with this exit status. */
void sup_node_shutdown(sup_node_t *node, int status, const char *why);

const char *sup_child_state_name(sup_child_state_t s);
/* The node's metrics now: retired counters plus every worker's last report. */
void sup_node_metrics(const sup_node_t *node, sup_metrics_t *out);
int64_t sup_now_ms(void);

/* Admin requests (sup_admin.c): args are the command words; returns the exit
 * status for nemomq-admin and fills out/err. */
int sup_admin_handle(sup_node_t *node, int argc, char **argv, bool json,
                     nmq_strbuf_t *out, nmq_strbuf_t *err);

/* Listening sockets (sup_listen.c). */
int sup_listen_open(sup_node_t *node, char *err, size_t errlen);
void sup_listen_close(sup_node_t *node);

#endif

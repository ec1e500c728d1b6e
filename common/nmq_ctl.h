/* nmq_ctl — the control protocol between a node's supervisor, its workers and
 * nemomq-admin (proto/control.proto).
 *
 * Command ids live in one table (nmq_ctl.c) with their names and who may send
 * them; a receiver looks a command up there and rejects what does not belong on
 * its socket, so a confused peer is logged, not obeyed.  Messages are sent and
 * received whole: [routing id frame when on a ROUTER] + [packed Ctl frame].
 */
#ifndef NMQ_CTL_H
#define NMQ_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include "control.pb-c.h"

typedef enum {
    NMQ_CTL_HELLO = 1,       /* worker -> supervisor: role, slot, pid */
    NMQ_CTL_WELCOME,         /* supervisor -> worker: config, generation */
    NMQ_CTL_READY,           /* worker -> supervisor: initialised, serving */
    NMQ_CTL_HEARTBEAT,       /* both ways; any message counts as one */
    NMQ_CTL_STOP,            /* supervisor -> worker: finish and exit 0 */
    NMQ_CTL_RELOAD,          /* supervisor -> worker: new config, generation */
    NMQ_CTL_ADMIN,           /* nemomq-admin -> supervisor: args, json */
    NMQ_CTL_ADMIN_REPLY,     /* supervisor -> nemomq-admin: status, out, err */
    NMQ_CTL_SYSTREE,         /* supervisor -> one acceptor: the node's metrics to publish in $SYS */
    NMQ_CTL_QUERY,           /* supervisor -> worker: args, query (session show, disconnect) */
    NMQ_CTL_QUERY_REPLY,     /* worker -> supervisor: query, status, err, columns, rows */
    NMQ_CTL_CMD_MAX
} nmq_ctl_cmd_t;

/* Who may send a command (bit set). */
#define NMQ_CTL_FROM_WORKER     0x1
#define NMQ_CTL_FROM_SUPERVISOR 0x2
#define NMQ_CTL_FROM_ADMIN      0x4

const char *nmq_ctl_cmd_name(unsigned cmd);
/* True when cmd is known and `from` may send it. */
bool nmq_ctl_cmd_allowed(unsigned cmd, unsigned from);

/* The socket paths of a node whose run directory is run_dir. */
int nmq_ctl_endpoint(char *buf, size_t len, const char *run_dir, const char *name);

/* Send one Ctl on a ZeroMQ socket (void * from zsock_resolve or zmq_socket);
 * with routing_id (ROUTER side) it goes first as its own frame.  0 or -1. */
int nmq_ctl_send(void *sock, const void *routing_id, size_t routing_len, const Nmq__Ctl *msg);

/* A worker's answer to a QUERY: columns and rows (cells[r * ncols + c]). */
int nmq_ctl_reply_query(void *sock, uint64_t query, int status, const char *err, const char *const *columns,
                        size_t ncols, char *const *cells, size_t nrows);

/* Receive one Ctl (blocking unless flags has ZMQ_DONTWAIT).  On a ROUTER pass
 * a buffer for the routing id (its length is returned in *routing_len).
 * Returns NULL on error, EAGAIN, or a malformed message (logged); free with
 * nmq__ctl__free_unpacked(msg, NULL). */
Nmq__Ctl *nmq_ctl_recv(void *sock, int flags, void *routing_id, size_t *routing_len);

#endif

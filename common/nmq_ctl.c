/* nmq_ctl — see nmq_ctl.h.  Thin on purpose: the protocol's meaning lives in
 * the supervisor (supervisor/sup_node.c) and the worker runtime
 * (common/nmq_worker.c); this file only frames, packs and checks. */
#include "nmq_ctl.h"
#include "nmq_log.h"
#include "nmq_worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static const struct {
    const char *name;
    unsigned from;
} s_cmds[NMQ_CTL_CMD_MAX] = {
    [NMQ_CTL_HELLO]       = { "HELLO",       NMQ_CTL_FROM_WORKER },
    [NMQ_CTL_WELCOME]     = { "WELCOME",     NMQ_CTL_FROM_SUPERVISOR },
    [NMQ_CTL_READY]       = { "READY",       NMQ_CTL_FROM_WORKER },
    [NMQ_CTL_HEARTBEAT]   = { "HEARTBEAT",   NMQ_CTL_FROM_WORKER | NMQ_CTL_FROM_SUPERVISOR },
    [NMQ_CTL_STOP]        = { "STOP",        NMQ_CTL_FROM_SUPERVISOR },
    [NMQ_CTL_RELOAD]      = { "RELOAD",      NMQ_CTL_FROM_SUPERVISOR },
    [NMQ_CTL_ADMIN]       = { "ADMIN",       NMQ_CTL_FROM_ADMIN },
    [NMQ_CTL_ADMIN_REPLY] = { "ADMIN_REPLY", NMQ_CTL_FROM_SUPERVISOR },
    [NMQ_CTL_SYSTREE]     = { "SYSTREE",     NMQ_CTL_FROM_SUPERVISOR },
    [NMQ_CTL_QUERY]       = { "QUERY",       NMQ_CTL_FROM_SUPERVISOR },
    [NMQ_CTL_QUERY_REPLY] = { "QUERY_REPLY", NMQ_CTL_FROM_WORKER },
};

const char *nmq_ctl_cmd_name(unsigned cmd)
{
    return (cmd < NMQ_CTL_CMD_MAX && s_cmds[cmd].name) ? s_cmds[cmd].name : "UNKNOWN";
}

bool nmq_ctl_cmd_allowed(unsigned cmd, unsigned from)
{
    return cmd < NMQ_CTL_CMD_MAX && s_cmds[cmd].name && (s_cmds[cmd].from & from);
}

int nmq_ctl_endpoint(char *buf, size_t len, const char *run_dir, const char *name)
{
    /* sun_path holds 108 bytes; an ipc endpoint beyond that cannot be bound. */
    int n = snprintf(buf, len, "ipc://%s/%s", run_dir, name);
    if (n < 0 || (size_t)n >= len || (size_t)n - 6 >= 107)
        return -1;
    return 0;
}

int nmq_ctl_send(void *sock, const void *routing_id, size_t routing_len, const Nmq__Ctl *msg)
{
    size_t len = nmq__ctl__get_packed_size(msg);
    uint8_t stackbuf[1024];
    uint8_t *buf = len <= sizeof stackbuf ? stackbuf : malloc(len);
    if (!buf)
        return -1;
    nmq__ctl__pack(msg, buf);
    nmq_worker_socket_used(sock);
    int rc = 0;
    if (routing_id && zmq_send(sock, routing_id, routing_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        rc = -1;
    if (rc == 0 && zmq_send(sock, buf, len, ZMQ_DONTWAIT) < 0)
        rc = -1;
    if (buf != stackbuf)
        free(buf);
    return rc;
}

int nmq_ctl_reply_query(void *sock, uint64_t query, int status, const char *err, const char *const *columns,
                        size_t ncols, char *const *cells, size_t nrows)
{
    Nmq__Ctl msg = NMQ__CTL__INIT;
    msg.has_cmd = msg.has_query = msg.has_status = true;
    msg.cmd = NMQ_CTL_QUERY_REPLY;
    msg.query = query;
    msg.status = status;
    msg.err = (char *)err;
    msg.n_columns = ncols;
    msg.columns = (char **)columns;
    Nmq__Row *rows = calloc(nrows ? nrows : 1, sizeof *rows);
    Nmq__Row **ptrs = calloc(nrows ? nrows : 1, sizeof *ptrs);
    for (size_t r = 0; r < nrows; r++) {
        nmq__row__init(&rows[r]);
        rows[r].n_cells = ncols;
        rows[r].cells = (char **)cells + r * ncols;
        ptrs[r] = &rows[r];
    }
    msg.n_rows = nrows;
    msg.rows = ptrs;
    int rc = nmq_ctl_send(sock, NULL, 0, &msg);
    free(rows);
    free(ptrs);
    return rc;
}

/* Drop what is left of a multipart message we will not use. */
static void s_drain(void *sock)
{
    int more = 1;
    size_t sz = sizeof more;
    zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz);
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        zmq_msg_recv(&m, sock, 0);
        zmq_msg_close(&m);
        zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz);
    }
}

Nmq__Ctl *nmq_ctl_recv(void *sock, int flags, void *routing_id, size_t *routing_len)
{
    zmq_msg_t frame;
    if (routing_id) {
        zmq_msg_init(&frame);
        if (zmq_msg_recv(&frame, sock, flags) < 0) {
            zmq_msg_close(&frame);
            return NULL;
        }
        size_t n = zmq_msg_size(&frame);
        if (n > *routing_len)
            n = *routing_len;
        memcpy(routing_id, zmq_msg_data(&frame), n);
        *routing_len = n;
        bool more = zmq_msg_more(&frame);
        zmq_msg_close(&frame);
        if (!more)
            return NULL;
        flags &= ~ZMQ_DONTWAIT;   /* the rest of a message is already here */
    }
    zmq_msg_init(&frame);
    if (zmq_msg_recv(&frame, sock, flags) < 0) {
        zmq_msg_close(&frame);
        return NULL;
    }
    Nmq__Ctl *msg = nmq__ctl__unpack(NULL, zmq_msg_size(&frame), zmq_msg_data(&frame));
    bool more = zmq_msg_more(&frame);
    zmq_msg_close(&frame);
    if (more)
        s_drain(sock);
    if (!msg) {
        nmq_warn("control: dropped a message that is not a packed Ctl");
        errno = EPROTO;
    }
    return msg;
}

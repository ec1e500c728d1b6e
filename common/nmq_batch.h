/* nmq_batch — one ZeroMQ message per destination per loop turn.
 *
 * The publish path's rule is batching: a worker collects every operation for
 * one destination during a loop turn into a batch (a packed nmq.Batch frame)
 * and the payloads beside it as frames of their own, and sends the lot at the
 * end of the turn.  A payload is added once and may be referenced by several
 * ops.  Receiving gives back the ops and a way to reach each op's payload
 * without copying it out of the ZeroMQ frames.
 */
#ifndef NMQ_BATCH_H
#define NMQ_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>
#include "broker.pb-c.h"
#include "nmq_broker_ops.h"
#include "nmq_config.h"

/* --- sockets ------------------------------------------------------------------
 * The publish path's sockets: ipc://<run dir>/<name>.  HWM 0, since the peers
 * are this node's own processes and a dropped batch would be a lost message;
 * a short linger, so a stopping worker still gets its last batch out.  bind
 * removes a socket file a killed predecessor left.  routing_id names a DEALER;
 * a SUB takes everything.  NULL on error (logged). */
void *nmq_batch_socket(void *zctx, const nmq_config_t *cfg, int type, const char *name, bool bind,
                       const char *routing_id, int send_hwm, int recv_hwm);
/* Bound what may wait in the socket's pipes (batches; 0 leaves one side
 * unbounded), so that a peer that falls behind pushes back (nmq_batch_send
 * answers EAGAIN) instead of growing.  ZeroMQ sizes a pipe when it creates
 * it: call this before bind/connect (nmq_batch_socket does).  Bound a
 * ROUTER's sending side only with ZMQ_ROUTER_MANDATORY set: without it a
 * ROUTER drops what does not fit. */
void nmq_batch_socket_hwm(void *sock, int send_batches, int recv_batches);

/* --- building ---------------------------------------------------------------- */

typedef struct nmq_batch nmq_batch_t;

nmq_batch_t *nmq_batch_new(void);
void nmq_batch_destroy(nmq_batch_t **self_p);
/* A new op, zero-initialised except its code; valid until the next send. */
Nmq__Op *nmq_batch_op(nmq_batch_t *self, broker_op_t op);
/* Copy a payload in; returns the frame index to put in Msg.payload_frame. */
uint32_t nmq_batch_payload(nmq_batch_t *self, const void *data, size_t len);
/* Strings and sub-objects an op points to must outlive it: the batch keeps
 * copies for you. */
char *nmq_batch_strdup(nmq_batch_t *self, const char *s, size_t len);
void *nmq_batch_alloc(nmq_batch_t *self, size_t size);
size_t nmq_batch_count(const nmq_batch_t *self);
/* Forget every op (a batch for a peer that is gone). */
void nmq_batch_discard(nmq_batch_t *self);
/* A copy of msg in the batch (topic, publisher, properties) whose payload
 * frame holds payload. */
Nmq__Msg *nmq_batch_msg(nmq_batch_t *self, const Nmq__Msg *msg, const void *payload, size_t len);
/* A recipient in the batch: client, granted QoS, retain as published, ids. */
Nmq__Recipient *nmq_batch_recipient(nmq_batch_t *self, const char *client, size_t clen, uint32_t qos, bool rap,
                                    const uint32_t *sub_ids, size_t n_sub_ids);
/* APPENDED {req, conn}: a publisher's message is in every queue it went to. */
Nmq__Op *nmq_batch_appended(nmq_batch_t *self, uint64_t req, uint64_t conn);
/* Send everything (with routing_id first, on a ROUTER) and start empty.
 * Returns 0; -1 with errno EAGAIN when the peer's pipe is full (a socket with
 * a send HWM; a ROUTER with ZMQ_ROUTER_MANDATORY): the batch is kept whole,
 * to be sent again; -1 otherwise when ZeroMQ refused (EHOSTUNREACH: that
 * ROUTER peer is gone), and the batch is dropped. */
int nmq_batch_send(nmq_batch_t *self, void *sock, const void *routing_id, size_t routing_len);

/* --- receiving ---------------------------------------------------------------- */

#define NMQ_BATCH_CHUNK 256

typedef struct {
    Nmq__Batch *batch;
    /* frame i is chunks[i / NMQ_BATCH_CHUNK][i % NMQ_BATCH_CHUNK]; [0] is the
     * Batch frame.  Chunks, not one array: a zmq_msg_t must not move. */
    zmq_msg_t **chunks;
    int nframes, nchunks;
    char routing_id[64];
    size_t routing_len;
    int from_shard;                          /* the receiver's note of where it came from */
    struct nmq_batch_chunk *arena;           /* the unpacked Batch's memory, kept between batches */
} nmq_batch_in_t;

/* Receive one batch (ZMQ_DONTWAIT); with_routing_id on a ROUTER.  0, or -1
 * with errno (EAGAIN when nothing is waiting, EPROTO for garbage). */
int nmq_batch_recv(nmq_batch_in_t *in, void *sock, bool with_routing_id);
/* The payload of a Msg, or an empty one when the frame does not exist. */
const uint8_t *nmq_batch_in_payload(const nmq_batch_in_t *in, const Nmq__Msg *msg, size_t *len);
void nmq_batch_in_close(nmq_batch_in_t *in);
/* Free the frame array (at the receiver's end). */
void nmq_batch_in_free(nmq_batch_in_t *in);

#endif

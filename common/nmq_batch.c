/* nmq_batch — see nmq_batch.h.
 *
 * Everything an outgoing batch points to (ops, strings, repeated fields) is
 * carved from one arena that is reset after each send, so building a batch of
 * a thousand ops costs a handful of mallocs.  Payload frames are handed to
 * ZeroMQ without a second copy (zmq_msg_init_data with a free function).
 */
#include "nmq_batch.h"
#include "nmq_log.h"
#include "nmq_paths.h"
#include "nmq_worker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NMQ_ARENA_CHUNK (64 * 1024)

typedef struct nmq_batch_chunk {
    struct nmq_batch_chunk *next;
    size_t used, cap;
    _Alignas(16) uint8_t data[];
} s_chunk_t;

typedef struct {
    void *data;
    size_t len;
} s_payload_t;

struct nmq_batch {
    s_chunk_t *chunks;
    Nmq__Op **ops;
    size_t nops, cap_ops;
    s_payload_t *payloads;
    size_t npayloads, cap_payloads;
};

/* A bump allocation from a chunk list (newest first); s_arena_reset keeps
 * the oldest chunk, so a steady state allocates nothing. */
static void *s_arena_alloc(s_chunk_t **chunks, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (!*chunks || (*chunks)->cap - (*chunks)->used < size) {
        size_t cap = size > NMQ_ARENA_CHUNK ? size : NMQ_ARENA_CHUNK;
        s_chunk_t *c = malloc(sizeof *c + cap);
        if (!c)
            abort();
        c->used = 0;
        c->cap = cap;
        c->next = *chunks;
        *chunks = c;
    }
    void *p = (*chunks)->data + (*chunks)->used;
    (*chunks)->used += size;
    return p;
}

static void s_arena_reset(s_chunk_t **chunks)
{
    while (*chunks && (*chunks)->next) {
        s_chunk_t *next = (*chunks)->next;
        free(*chunks);
        *chunks = next;
    }
    if (*chunks)
        (*chunks)->used = 0;
}

nmq_batch_t *nmq_batch_new(void)
{
    nmq_batch_t *b = calloc(1, sizeof *b);
    if (!b)
        abort();
    return b;
}

static void s_reset(nmq_batch_t *b)
{
    s_arena_reset(&b->chunks);
    for (size_t i = 0; i < b->npayloads; i++)
        free(b->payloads[i].data);
    b->nops = b->npayloads = 0;
}

void nmq_batch_destroy(nmq_batch_t **self_p)
{
    nmq_batch_t *b = *self_p;
    if (!b)
        return;
    s_reset(b);
    free(b->chunks);
    free(b->ops);
    free(b->payloads);
    free(b);
    *self_p = NULL;
}

void *nmq_batch_alloc(nmq_batch_t *b, size_t size)
{
    void *p = s_arena_alloc(&b->chunks, size);
    memset(p, 0, size);
    return p;
}

char *nmq_batch_strdup(nmq_batch_t *b, const char *s, size_t len)
{
    char *d = nmq_batch_alloc(b, len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

Nmq__Op *nmq_batch_op(nmq_batch_t *b, broker_op_t code)
{
    if (b->nops == b->cap_ops) {
        b->cap_ops = b->cap_ops ? b->cap_ops * 2 : 64;
        b->ops = realloc(b->ops, b->cap_ops * sizeof *b->ops);
        if (!b->ops)
            abort();
    }
    Nmq__Op *op = nmq_batch_alloc(b, sizeof *op);
    nmq__op__init(op);
    op->has_op = true;
    op->op = code;
    b->ops[b->nops++] = op;
    return op;
}

uint32_t nmq_batch_payload(nmq_batch_t *b, const void *data, size_t len)
{
    if (b->npayloads == b->cap_payloads) {
        b->cap_payloads = b->cap_payloads ? b->cap_payloads * 2 : 64;
        b->payloads = realloc(b->payloads, b->cap_payloads * sizeof *b->payloads);
        if (!b->payloads)
            abort();
    }
    void *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    memcpy(copy, data, len);
    b->payloads[b->npayloads] = (s_payload_t){ copy, len };
    return (uint32_t)(++b->npayloads);   /* frame 0 is the Batch itself */
}

Nmq__Msg *nmq_batch_msg(nmq_batch_t *b, const Nmq__Msg *msg, const void *payload, size_t len)
{
    Nmq__Msg *m = nmq_batch_alloc(b, sizeof *m);
    *m = *msg;
    m->topic = msg->topic ? nmq_batch_strdup(b, msg->topic, strlen(msg->topic)) : NULL;
    m->publisher = msg->publisher ? nmq_batch_strdup(b, msg->publisher, strlen(msg->publisher)) : NULL;
    if (msg->has_props) {
        m->props.data = nmq_batch_alloc(b, msg->props.len);
        memcpy(m->props.data, msg->props.data, msg->props.len);
    }
    m->has_payload_frame = true;
    m->payload_frame = nmq_batch_payload(b, payload, len);
    return m;
}

Nmq__Recipient *nmq_batch_recipient(nmq_batch_t *b, const char *client, size_t clen, uint32_t qos, bool rap,
                                    const uint32_t *sub_ids, size_t n_sub_ids)
{
    Nmq__Recipient *r = nmq_batch_alloc(b, sizeof *r);
    nmq__recipient__init(r);
    r->client_id = nmq_batch_strdup(b, client, clen);
    r->has_qos = r->has_retain_as_published = true;
    r->qos = qos;
    r->retain_as_published = rap;
    if (n_sub_ids) {
        r->sub_ids = nmq_batch_alloc(b, n_sub_ids * sizeof *r->sub_ids);
        memcpy(r->sub_ids, sub_ids, n_sub_ids * sizeof *r->sub_ids);
        r->n_sub_ids = n_sub_ids;
    }
    return r;
}

Nmq__Op *nmq_batch_appended(nmq_batch_t *b, uint64_t req, uint64_t conn)
{
    Nmq__Op *op = nmq_batch_op(b, BROKER_OP_APPENDED);
    op->has_req = true;
    op->req = req;
    Nmq__ConnRef *ref = nmq_batch_alloc(b, sizeof *ref);
    nmq__conn_ref__init(ref);
    ref->has_conn = true;
    ref->conn = conn;
    op->conn = ref;
    return op;
}

size_t nmq_batch_count(const nmq_batch_t *b) { return b->nops; }
void nmq_batch_discard(nmq_batch_t *b) { s_reset(b); }

static void s_free_payload(void *data, void *hint) { free(data); }

int nmq_batch_send(nmq_batch_t *b, void *sock, const void *routing_id, size_t routing_len)
{
    if (b->nops == 0)
        return 0;
    nmq_worker_socket_used(sock);
    Nmq__Batch batch = NMQ__BATCH__INIT;
    batch.n_ops = b->nops;
    batch.ops = b->ops;
    size_t len = nmq__batch__get_packed_size(&batch);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        abort();
    nmq__batch__pack(&batch, buf);
    int rc = 0;
    if (routing_id && zmq_send(sock, routing_id, routing_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        /* a ROUTER_MANDATORY socket: the peer's pipe is full (keep it all,
         * nothing was sent) or the peer is gone (its ops have no reader) */
        int err = errno;
        free(buf);
        if (err != EAGAIN)
            s_reset(b);
        errno = err;
        return -1;
    }
    zmq_msg_t m;
    zmq_msg_init_data(&m, buf, len, s_free_payload, NULL);
    if (zmq_msg_send(&m, sock, (b->npayloads ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0) {
        int err = errno;
        zmq_msg_close(&m);   /* frees buf */
        if (err == EAGAIN && !routing_id) {
            errno = EAGAIN;  /* the pipe is full: nothing was sent, keep it all */
            return -1;
        }
        rc = -1;
    }
    for (size_t i = 0; i < b->npayloads; i++) {
        s_payload_t *p = &b->payloads[i];
        if (rc == 0) {
            zmq_msg_init_data(&m, p->data, p->len, s_free_payload, NULL);
            if (zmq_msg_send(&m, sock, (i + 1 < b->npayloads ? ZMQ_SNDMORE : 0)) < 0) {
                zmq_msg_close(&m);
                rc = -1;
            }
            p->data = NULL;   /* ZeroMQ owns it now */
        }
    }
    if (rc < 0)
        nmq_warn("batch of %zu ops dropped: %s", b->nops, zmq_strerror(errno));
    s_reset(b);
    return rc;
}

static zmq_msg_t *s_frame(const nmq_batch_in_t *in, int i)
{
    return &in->chunks[i / NMQ_BATCH_CHUNK][i % NMQ_BATCH_CHUNK];
}

static void *s_unpack_alloc(void *data, size_t size)
{
    nmq_batch_in_t *in = data;
    return s_arena_alloc(&in->arena, size);
}

static void s_unpack_free(void *data, void *ptr) { /* the whole arena goes at once */ }

int nmq_batch_recv(nmq_batch_in_t *in, void *sock, bool with_routing_id)
{
    in->batch = NULL;
    in->nframes = 0;
    in->routing_len = 0;
    int more = 1;
    bool first = true;
    while (more) {
        if (in->nframes == in->nchunks * NMQ_BATCH_CHUNK) {
            /* a busy turn's batch may carry thousands of payloads */
            in->chunks = realloc(in->chunks, (size_t)(in->nchunks + 1) * sizeof *in->chunks);
            if (!in->chunks || !(in->chunks[in->nchunks] = malloc(NMQ_BATCH_CHUNK * sizeof(zmq_msg_t))))
                abort();
            in->nchunks++;
        }
        zmq_msg_t *m = s_frame(in, in->nframes);
        zmq_msg_init(m);
        if (zmq_msg_recv(m, sock, first ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(m);
            nmq_batch_in_close(in);
            return -1;
        }
        more = zmq_msg_more(m);
        if (first && with_routing_id) {
            size_t n = zmq_msg_size(m);
            in->routing_len = n < sizeof in->routing_id ? n : sizeof in->routing_id;
            memcpy(in->routing_id, zmq_msg_data(m), in->routing_len);
            zmq_msg_close(m);
        } else {
            in->nframes++;
        }
        first = false;
    }
    if (in->nframes == 0) {
        errno = EPROTO;
        return -1;
    }
    /* protobuf-c allocates every op, message and string of the batch: from
     * the arena, freed at once by nmq_batch_in_close (malloc was the largest
     * cost of a fan-out's acceptor) */
    ProtobufCAllocator arena = { .alloc = s_unpack_alloc, .free = s_unpack_free, .allocator_data = in };
    in->batch = nmq__batch__unpack(&arena, zmq_msg_size(s_frame(in, 0)), zmq_msg_data(s_frame(in, 0)));
    if (!in->batch) {
        nmq_warn("dropped a batch that is not a packed nmq.Batch");
        nmq_batch_in_close(in);
        errno = EPROTO;
        return -1;
    }
    return 0;
}

const uint8_t *nmq_batch_in_payload(const nmq_batch_in_t *in, const Nmq__Msg *msg, size_t *len)
{
    if (!msg || !msg->has_payload_frame || msg->payload_frame == 0 ||
        (int)msg->payload_frame >= in->nframes) {
        *len = 0;
        return (const uint8_t *)"";
    }
    zmq_msg_t *m = s_frame(in, (int)msg->payload_frame);
    *len = zmq_msg_size(m);
    return zmq_msg_data(m);
}

void nmq_batch_in_free(nmq_batch_in_t *in)
{
    nmq_batch_in_close(in);
    free(in->arena);
    in->arena = NULL;
    for (int i = 0; i < in->nchunks; i++)
        free(in->chunks[i]);
    free(in->chunks);
    in->chunks = NULL;
    in->nchunks = 0;
}

void nmq_batch_in_close(nmq_batch_in_t *in)
{
    in->batch = NULL;   /* its memory is the arena's */
    s_arena_reset(&in->arena);
    for (int i = 0; i < in->nframes; i++)
        zmq_msg_close(s_frame(in, i));
    in->nframes = 0;
}

void nmq_batch_socket_hwm(void *sock, int send_batches, int recv_batches)
{
    zmq_setsockopt(sock, ZMQ_SNDHWM, &send_batches, sizeof send_batches);
    zmq_setsockopt(sock, ZMQ_RCVHWM, &recv_batches, sizeof recv_batches);
}

void *nmq_batch_socket(void *zctx, const nmq_config_t *cfg, int type, const char *name, bool bind,
                       const char *routing_id, int send_hwm, int recv_hwm)
{
    char ep[NMQ_CONF_PATH_MAX + 64];
    if (nmq_paths_endpoint(cfg, name, ep, sizeof ep) < 0) {
        nmq_error("%s: the run directory's path is too long for an ipc socket", name);
        return NULL;
    }
    void *s = zmq_socket(zctx, type);
    int linger = 500, one = 1;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    nmq_batch_socket_hwm(s, send_hwm, recv_hwm);
    if (routing_id)
        zmq_setsockopt(s, ZMQ_ROUTING_ID, routing_id, strlen(routing_id));
    if (type == ZMQ_ROUTER)
        zmq_setsockopt(s, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    if (type == ZMQ_SUB)
        zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    if (bind)
        unlink(ep + 6);
    if ((bind ? zmq_bind(s, ep) : zmq_connect(s, ep)) < 0) {
        nmq_error("cannot %s %s: %s", bind ? "bind" : "connect", ep, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
}

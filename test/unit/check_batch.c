/* Unit tests: nmq_batch, the publish path's framing (common/nmq_batch.c), over
 * real ZeroMQ sockets: ops and payload frames arrive whole and in order, a
 * payload referenced by index is the one sent, a batch of more payloads than
 * any fixed table (the overload bug that aborted workers) is received intact,
 * and a full pipe keeps the batch for a later send instead of dropping it. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "nmq_batch.h"

typedef struct {
    void *ctx, *router, *dealer;
} pair_t;

/* hwm > 0: bound both ends before the pipe exists (ZeroMQ sizes a pipe when
 * it is created), as the acceptor and the queue worker do. */
static pair_t s_pair_hwm(int hwm)
{
    pair_t p;
    p.ctx = zmq_ctx_new();
    p.router = zmq_socket(p.ctx, ZMQ_ROUTER);
    p.dealer = zmq_socket(p.ctx, ZMQ_DEALER);
    if (hwm) {
        nmq_batch_socket_hwm(p.dealer, hwm, 0);
        nmq_batch_socket_hwm(p.router, 0, hwm);
    }
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://batch-%d", (int)getpid());
    ck_assert_int_eq(zmq_bind(p.router, ep), 0);
    zmq_setsockopt(p.dealer, ZMQ_ROUTING_ID, "a0.1", 4);
    ck_assert_int_eq(zmq_connect(p.dealer, ep), 0);
    return p;
}

static pair_t s_pair(void) { return s_pair_hwm(0); }

static void s_close(pair_t *p)
{
    int linger = 0;
    zmq_setsockopt(p->router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(p->dealer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(p->router);
    zmq_close(p->dealer);
    zmq_ctx_term(p->ctx);
}

static void s_recv_blocking(nmq_batch_in_t *in, void *sock)
{
    zmq_pollitem_t item = { .socket = sock, .events = ZMQ_POLLIN };
    ck_assert_int_eq(zmq_poll(&item, 1, 5000), 1);
    ck_assert_int_eq(nmq_batch_recv(in, sock, true), 0);
}

START_TEST(test_ops_and_payloads_round_trip)
{
    pair_t p = s_pair();
    nmq_batch_t *b = nmq_batch_new();
    for (int i = 0; i < 3; i++) {
        Nmq__Op *op = nmq_batch_op(b, BROKER_OP_APPEND);
        Nmq__Msg *m = nmq_batch_alloc(b, sizeof *m);
        nmq__msg__init(m);
        char topic[16], body[16];
        snprintf(topic, sizeof topic, "t/%d", i);
        snprintf(body, sizeof body, "payload %d", i);
        m->topic = nmq_batch_strdup(b, topic, strlen(topic));
        m->has_payload_frame = true;
        m->payload_frame = nmq_batch_payload(b, body, strlen(body));
        op->msg = m;
    }
    ck_assert_uint_eq(nmq_batch_count(b), 3);
    ck_assert_int_eq(nmq_batch_send(b, p.dealer, NULL, 0), 0);
    ck_assert_uint_eq(nmq_batch_count(b), 0);   /* empty again for the next turn */

    nmq_batch_in_t in = { 0 };
    s_recv_blocking(&in, p.router);
    ck_assert_uint_eq(in.routing_len, 4);
    ck_assert(memcmp(in.routing_id, "a0.1", 4) == 0);
    ck_assert_uint_eq(in.batch->n_ops, 3);
    for (int i = 0; i < 3; i++) {
        const Nmq__Op *op = in.batch->ops[i];
        char topic[16], body[16];
        snprintf(topic, sizeof topic, "t/%d", i);
        snprintf(body, sizeof body, "payload %d", i);
        ck_assert_uint_eq(op->op, BROKER_OP_APPEND);
        ck_assert_str_eq(op->msg->topic, topic);
        size_t len;
        const uint8_t *data = nmq_batch_in_payload(&in, op->msg, &len);
        ck_assert_uint_eq(len, strlen(body));
        ck_assert(memcmp(data, body, len) == 0);
    }
    /* a Msg without a payload frame reads as empty, never out of bounds */
    Nmq__Msg none = NMQ__MSG__INIT;
    size_t len = 99;
    nmq_batch_in_payload(&in, &none, &len);
    ck_assert_uint_eq(len, 0);
    nmq_batch_in_free(&in);
    nmq_batch_destroy(&b);
    ck_assert_ptr_null(b);
    s_close(&p);
}
END_TEST

START_TEST(test_more_payloads_than_any_table)
{
    enum { N = 10000 };
    pair_t p = s_pair();
    nmq_batch_t *b = nmq_batch_new();
    for (int i = 0; i < N; i++) {
        Nmq__Op *op = nmq_batch_op(b, BROKER_OP_DELIVER);
        Nmq__Msg *m = nmq_batch_alloc(b, sizeof *m);
        nmq__msg__init(m);
        m->has_payload_frame = true;
        m->payload_frame = nmq_batch_payload(b, &i, sizeof i);
        op->msg = m;
    }
    ck_assert_int_eq(nmq_batch_send(b, p.dealer, NULL, 0), 0);
    nmq_batch_in_t in = { 0 };
    for (int round = 0; round < 2; round++) {   /* the frame table is reused */
        if (round) {
            for (int i = 0; i < N; i++) {
                Nmq__Op *op = nmq_batch_op(b, BROKER_OP_DELIVER);
                Nmq__Msg *m = nmq_batch_alloc(b, sizeof *m);
                nmq__msg__init(m);
                m->has_payload_frame = true;
                m->payload_frame = nmq_batch_payload(b, &i, sizeof i);
                op->msg = m;
            }
            ck_assert_int_eq(nmq_batch_send(b, p.dealer, NULL, 0), 0);
        }
        s_recv_blocking(&in, p.router);
        ck_assert_uint_eq(in.batch->n_ops, N);
        ck_assert_int_eq(in.nframes, N + 1);
        for (int i = 0; i < N; i++) {
            size_t len;
            const uint8_t *data = nmq_batch_in_payload(&in, in.batch->ops[i]->msg, &len);
            int v;
            ck_assert_uint_eq(len, sizeof v);
            memcpy(&v, data, sizeof v);
            ck_assert_int_eq(v, i);
        }
        nmq_batch_in_close(&in);
    }
    nmq_batch_in_free(&in);
    nmq_batch_destroy(&b);
    s_close(&p);
}
END_TEST

START_TEST(test_a_full_pipe_keeps_the_batch)
{
    pair_t p = s_pair_hwm(1);
    nmq_batch_t *b = nmq_batch_new();
    int sent = 0, kept = 0;
    for (int i = 0; i < 64 && !kept; i++) {
        nmq_batch_op(b, BROKER_OP_HELLO);
        if (nmq_batch_send(b, p.dealer, NULL, 0) == 0)
            sent++;
        else {
            ck_assert_int_eq(errno, EAGAIN);
            kept = 1;
        }
    }
    ck_assert_int_eq(kept, 1);                     /* nobody reads: the pipe fills */
    ck_assert_uint_eq(nmq_batch_count(b), 1);      /* and the batch is still ours */
    nmq_batch_in_t in = { 0 };
    for (int i = 0; i < sent; i++) {               /* the reader catches up */
        s_recv_blocking(&in, p.router);
        nmq_batch_in_close(&in);
    }
    int ok = -1;
    for (int i = 0; i < 100 && ok != 0; i++) {
        ok = nmq_batch_send(b, p.dealer, NULL, 0);
        if (ok != 0)
            usleep(10000);
    }
    ck_assert_int_eq(ok, 0);
    s_recv_blocking(&in, p.router);
    ck_assert_uint_eq(in.batch->n_ops, 1);
    nmq_batch_in_free(&in);
    nmq_batch_destroy(&b);
    s_close(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("batch");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_ops_and_payloads_round_trip);
    tcase_add_test(tc, test_more_payloads_than_any_table);
    tcase_add_test(tc, test_a_full_pipe_keeps_the_batch);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

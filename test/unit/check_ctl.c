/* Unit tests: the control protocol (common/nmq_ctl.c) over real ZeroMQ
 * sockets — a ROUTER and DEALERs as the supervisor and its workers use them —
 * and the command table that says who may send what. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "nmq_ctl.h"

typedef struct {
    void *ctx, *router, *dealer;
} pair_t;

/* Check forks each test: sockets are made inside the test, never shared. */
static pair_t s_pair(const char *id)
{
    pair_t p;
    p.ctx = zmq_ctx_new();
    p.router = zmq_socket(p.ctx, ZMQ_ROUTER);
    p.dealer = zmq_socket(p.ctx, ZMQ_DEALER);
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://ctl-%d", (int)getpid());
    ck_assert_int_eq(zmq_bind(p.router, ep), 0);
    zmq_setsockopt(p.dealer, ZMQ_ROUTING_ID, id, strlen(id));
    ck_assert_int_eq(zmq_connect(p.dealer, ep), 0);
    return p;
}

static void s_close(pair_t *p)
{
    int linger = 0;
    zmq_setsockopt(p->router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(p->dealer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(p->router);
    zmq_close(p->dealer);
    zmq_ctx_term(p->ctx);
}

START_TEST(test_hello_welcome_round_trip)
{
    pair_t p = s_pair("w4242");
    Nmq__Ctl hello = NMQ__CTL__INIT;
    hello.has_cmd = hello.has_slot = hello.has_pid = true;
    hello.cmd = NMQ_CTL_HELLO;
    hello.role = "acceptor";
    hello.slot = 3;
    hello.pid = 4242;
    ck_assert_int_eq(nmq_ctl_send(p.dealer, NULL, 0, &hello), 0);

    char id[64];
    size_t idlen = sizeof id;
    Nmq__Ctl *got = nmq_ctl_recv(p.router, 0, id, &idlen);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(idlen, 5);
    ck_assert(memcmp(id, "w4242", 5) == 0);
    ck_assert_uint_eq(got->cmd, NMQ_CTL_HELLO);
    ck_assert_str_eq(got->role, "acceptor");
    ck_assert_uint_eq(got->slot, 3);
    ck_assert_int_eq(got->pid, 4242);
    nmq__ctl__free_unpacked(got, NULL);

    /* the answer carries a config larger than the stack buffer of nmq_ctl_send */
    char *config = malloc(100000);
    memset(config, 'x', 99999);
    config[99999] = '\0';
    Nmq__Ctl welcome = NMQ__CTL__INIT;
    welcome.has_cmd = welcome.has_generation = true;
    welcome.cmd = NMQ_CTL_WELCOME;
    welcome.generation = 7;
    welcome.config = config;
    ck_assert_int_eq(nmq_ctl_send(p.router, id, idlen, &welcome), 0);
    got = nmq_ctl_recv(p.dealer, 0, NULL, NULL);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(got->cmd, NMQ_CTL_WELCOME);
    ck_assert_uint_eq(got->generation, 7);
    ck_assert_str_eq(got->config, config);
    nmq__ctl__free_unpacked(got, NULL);
    free(config);
    s_close(&p);
}
END_TEST

START_TEST(test_admin_args_round_trip)
{
    pair_t p = s_pair("admin");
    char *args[] = { "set", "max_inflight_messages=50", "--json" };
    Nmq__Ctl req = NMQ__CTL__INIT;
    req.has_cmd = req.has_json = true;
    req.cmd = NMQ_CTL_ADMIN;
    req.json = true;
    req.n_args = 3;
    req.args = args;
    ck_assert_int_eq(nmq_ctl_send(p.dealer, NULL, 0, &req), 0);
    char id[64];
    size_t idlen = sizeof id;
    Nmq__Ctl *got = nmq_ctl_recv(p.router, 0, id, &idlen);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(got->n_args, 3);
    for (int i = 0; i < 3; i++)
        ck_assert_str_eq(got->args[i], args[i]);
    ck_assert(got->json);
    nmq__ctl__free_unpacked(got, NULL);
    s_close(&p);
}
END_TEST

START_TEST(test_garbage_is_rejected_and_the_next_message_still_arrives)
{
    pair_t p = s_pair("w1");
    /* 0xff... is not a valid protobuf encoding of Ctl */
    const unsigned char junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x08 };
    zmq_send(p.dealer, junk, sizeof junk, 0);
    /* a message of three frames: the extra frames must be drained, not left */
    Nmq__Ctl hb = NMQ__CTL__INIT;
    hb.has_cmd = true;
    hb.cmd = NMQ_CTL_HEARTBEAT;
    uint8_t buf[64];
    size_t n = nmq__ctl__pack(&hb, buf);
    zmq_send(p.dealer, buf, n, ZMQ_SNDMORE);
    zmq_send(p.dealer, "extra", 5, ZMQ_SNDMORE);
    zmq_send(p.dealer, "more", 4, 0);
    hb.cmd = NMQ_CTL_READY;
    ck_assert_int_eq(nmq_ctl_send(p.dealer, NULL, 0, &hb), 0);

    char id[64];
    size_t idlen = sizeof id;
    errno = 0;
    ck_assert_ptr_null(nmq_ctl_recv(p.router, 0, id, &idlen));
    ck_assert_int_eq(errno, EPROTO);
    idlen = sizeof id;
    Nmq__Ctl *got = nmq_ctl_recv(p.router, 0, id, &idlen);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(got->cmd, NMQ_CTL_HEARTBEAT);
    nmq__ctl__free_unpacked(got, NULL);
    idlen = sizeof id;
    got = nmq_ctl_recv(p.router, 0, id, &idlen);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(got->cmd, NMQ_CTL_READY);
    nmq__ctl__free_unpacked(got, NULL);
    s_close(&p);
}
END_TEST

START_TEST(test_nothing_waiting_is_eagain)
{
    pair_t p = s_pair("w2");
    char id[64];
    size_t idlen = sizeof id;
    ck_assert_ptr_null(nmq_ctl_recv(p.router, ZMQ_DONTWAIT, id, &idlen));
    ck_assert_int_eq(errno, EAGAIN);
    s_close(&p);
}
END_TEST

START_TEST(test_who_may_send_what)
{
    static const struct {
        unsigned cmd, from;
        bool allowed;
    } rows[] = {
        { NMQ_CTL_HELLO, NMQ_CTL_FROM_WORKER, true },
        { NMQ_CTL_HELLO, NMQ_CTL_FROM_ADMIN, false },
        { NMQ_CTL_WELCOME, NMQ_CTL_FROM_SUPERVISOR, true },
        { NMQ_CTL_WELCOME, NMQ_CTL_FROM_WORKER, false },
        { NMQ_CTL_READY, NMQ_CTL_FROM_WORKER, true },
        { NMQ_CTL_HEARTBEAT, NMQ_CTL_FROM_WORKER, true },
        { NMQ_CTL_HEARTBEAT, NMQ_CTL_FROM_SUPERVISOR, true },
        { NMQ_CTL_HEARTBEAT, NMQ_CTL_FROM_ADMIN, false },
        { NMQ_CTL_STOP, NMQ_CTL_FROM_SUPERVISOR, true },
        { NMQ_CTL_STOP, NMQ_CTL_FROM_WORKER, false },
        { NMQ_CTL_STOP, NMQ_CTL_FROM_ADMIN, false },
        { NMQ_CTL_RELOAD, NMQ_CTL_FROM_SUPERVISOR, true },
        { NMQ_CTL_RELOAD, NMQ_CTL_FROM_ADMIN, false },
        { NMQ_CTL_ADMIN, NMQ_CTL_FROM_ADMIN, true },
        { NMQ_CTL_ADMIN, NMQ_CTL_FROM_WORKER, false },
        { NMQ_CTL_ADMIN_REPLY, NMQ_CTL_FROM_SUPERVISOR, true },
        { 0, NMQ_CTL_FROM_WORKER, false },
        { NMQ_CTL_CMD_MAX, NMQ_CTL_FROM_SUPERVISOR, false },
        { 1000, NMQ_CTL_FROM_ADMIN, false },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        ck_assert_msg(nmq_ctl_cmd_allowed(rows[i].cmd, rows[i].from) == rows[i].allowed,
                      "row %zu: %s from %u", i, nmq_ctl_cmd_name(rows[i].cmd), rows[i].from);
    ck_assert_str_eq(nmq_ctl_cmd_name(NMQ_CTL_RELOAD), "RELOAD");
    ck_assert_str_eq(nmq_ctl_cmd_name(999), "UNKNOWN");
}
END_TEST

START_TEST(test_endpoint_fits_sun_path)
{
    char buf[512], dir[200];
    ck_assert_int_eq(nmq_ctl_endpoint(buf, sizeof buf, "/var/lib/nemomq/run", "control.sock"), 0);
    ck_assert_str_eq(buf, "ipc:///var/lib/nemomq/run/control.sock");
    memset(dir, 'd', sizeof dir - 1);
    dir[0] = '/';
    dir[sizeof dir - 1] = '\0';
    ck_assert_int_eq(nmq_ctl_endpoint(buf, sizeof buf, dir, "control.sock"), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ctl");
    TCase *tc = tcase_create("ctl");
    tcase_add_test(tc, test_hello_welcome_round_trip);
    tcase_add_test(tc, test_admin_args_round_trip);
    tcase_add_test(tc, test_garbage_is_rejected_and_the_next_message_still_arrives);
    tcase_add_test(tc, test_nothing_waiting_is_eagain);
    tcase_add_test(tc, test_who_may_send_what);
    tcase_add_test(tc, test_endpoint_fits_sun_path);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

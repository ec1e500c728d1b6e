/* Unit tests: the supervisor's listeners (supervisor/sup_listen.c).  The
 * acceptors set nothing on a new connection: TCP_NODELAY comes from the
 * listener, so an accepted socket must carry it (a real listener on
 * 127.0.0.1, a real connection); a listener that cannot bind says which. */
#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nmq_config.h"
#include "sup_node.h"

static void s_listener(nmq_config_t *cfg, int i, const char *host, uint16_t port)
{
    nmq_listener_conf_t *lc = &cfg->listeners[i];
    snprintf(lc->kind, sizeof lc->kind, "tcp");
    snprintf(lc->name, sizeof lc->name, "l%d", i);
    snprintf(lc->host, sizeof lc->host, "%s", host);
    lc->port = port;
    cfg->nr_listeners = i + 1;
}

static int s_nodelay(int fd)
{
    int v = -1;
    socklen_t len = sizeof v;
    ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
    return v;
}

START_TEST(test_accepted_connections_inherit_nodelay)
{
    static nmq_config_t cfg;
    static sup_node_t node;
    memset(&cfg, 0, sizeof cfg);
    memset(&node, 0, sizeof node);
    s_listener(&cfg, 0, "127.0.0.1", 0);
    node.cfg = &cfg;
    char err[256] = "";
    ck_assert_msg(sup_listen_open(&node, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(node.nlisteners, 1);
    int lfd = node.listeners[0].fd;
    ck_assert_int_eq(s_nodelay(lfd), 1);

    struct sockaddr_in addr;
    socklen_t alen = sizeof addr;
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&addr, &alen), 0);
    int cfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(cfd, (struct sockaddr *)&addr, alen), 0);
    int afd = -1;
    for (int i = 0; i < 1000 && afd < 0; i++) {   /* the listener is non-blocking */
        afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (afd < 0)
            usleep(1000);
    }
    ck_assert_int_ge(afd, 0);
    ck_assert_int_eq(s_nodelay(afd), 1);
    ck_assert_int_eq(s_nodelay(cfd), 0);   /* the client's socket: the default */
    close(afd);
    close(cfd);
    sup_listen_close(&node);
    ck_assert_int_eq(node.nlisteners, 0);
}
END_TEST

START_TEST(test_a_listener_that_cannot_bind_is_named)
{
    static nmq_config_t cfg;
    static sup_node_t node;
    memset(&cfg, 0, sizeof cfg);
    memset(&node, 0, sizeof node);
    /* the first listener takes a port, the second asks for the same one */
    int hold = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof addr;
    ck_assert_int_eq(bind(hold, (struct sockaddr *)&addr, sizeof addr), 0);
    ck_assert_int_eq(listen(hold, 1), 0);
    ck_assert_int_eq(getsockname(hold, (struct sockaddr *)&addr, &alen), 0);
    s_listener(&cfg, 0, "127.0.0.1", 0);
    s_listener(&cfg, 1, "127.0.0.1", ntohs(addr.sin_port));
    node.cfg = &cfg;
    char err[256] = "";
    ck_assert_int_eq(sup_listen_open(&node, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "listener.tcp.l1") && strstr(err, "cannot listen"), "%s", err);
    ck_assert_int_eq(node.nlisteners, 0);   /* the first one was closed again */
    close(hold);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sup_listen");
    TCase *tc = tcase_create("listen");
    tcase_add_test(tc, test_accepted_connections_inherit_nodelay);
    tcase_add_test(tc, test_a_listener_that_cannot_bind_is_named);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

/* Unit tests: what distributed_cookie becomes (workers/cluster/cluster_keys.c):
 * CURVE keypairs derived the same way on every node, different per cookie
 * where they must be, and the server's proof of the cookie. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "cluster/cluster.h"

START_TEST(test_same_cookie_same_keys)
{
    cluster_keys_t a, b;
    ck_assert_int_eq(cluster_keys_derive("vmq", &a), 0);
    ck_assert_int_eq(cluster_keys_derive("vmq", &b), 0);
    ck_assert_int_eq(memcmp(&a, &b, sizeof a), 0);
    ck_assert_uint_eq(strlen(a.client_public), 40);
    ck_assert_uint_eq(strlen(a.server_secret), 40);
}
END_TEST

START_TEST(test_public_keys_match_their_secrets)
{
    cluster_keys_t k;
    ck_assert_int_eq(cluster_keys_derive("a cookie", &k), 0);
    char pub[41];
    ck_assert_int_eq(zmq_curve_public(pub, k.client_secret), 0);
    ck_assert_str_eq(pub, k.client_public);
    ck_assert_int_eq(zmq_curve_public(pub, k.server_secret), 0);
    ck_assert_str_eq(pub, k.server_public);
    uint8_t bin[32];
    zmq_z85_decode(bin, k.client_public);
    ck_assert_int_eq(memcmp(bin, k.client_public_bin, 32), 0);
    ck_assert_str_ne(k.client_public, k.server_public);
}
END_TEST

START_TEST(test_another_cookie_another_client_key_same_transport_key)
{
    /* the client key is what ZAP checks; the server key is every node's, so a
     * wrong cookie reaches ZAP and is refused there, with a log line */
    cluster_keys_t a, b, c;
    cluster_keys_derive("vmq", &a);
    cluster_keys_derive("vmq2", &b);
    cluster_keys_derive("", &c);
    ck_assert_str_ne(a.client_public, b.client_public);
    ck_assert_str_ne(a.client_secret, b.client_secret);
    ck_assert_str_ne(a.client_public, c.client_public);
    ck_assert_int_ne(memcmp(a.proof_key, b.proof_key, 32), 0);
    ck_assert_str_eq(a.server_public, b.server_public);
    ck_assert_str_eq(a.server_public, c.server_public);
}
END_TEST

START_TEST(test_proof_needs_the_cookie_the_nonce_and_the_name)
{
    cluster_keys_t k, other;
    cluster_keys_derive("secret", &k);
    cluster_keys_derive("guess", &other);
    uint8_t nonce[CLUSTER_NONCE_LEN], nonce2[CLUSTER_NONCE_LEN], proof[32];
    memset(nonce, 7, sizeof nonce);
    memset(nonce2, 8, sizeof nonce2);
    cluster_keys_proof(&k, nonce, sizeof nonce, "c1@127.0.0.1", proof);
    ck_assert(cluster_keys_proof_ok(&k, nonce, sizeof nonce, "c1@127.0.0.1", proof, sizeof proof));
    ck_assert(!cluster_keys_proof_ok(&other, nonce, sizeof nonce, "c1@127.0.0.1", proof, sizeof proof));
    ck_assert(!cluster_keys_proof_ok(&k, nonce2, sizeof nonce2, "c1@127.0.0.1", proof, sizeof proof));
    ck_assert(!cluster_keys_proof_ok(&k, nonce, sizeof nonce, "c2@127.0.0.1", proof, sizeof proof));
    ck_assert(!cluster_keys_proof_ok(&k, nonce, sizeof nonce, "c1@127.0.0.1", proof, 31));
    proof[0] ^= 1;
    ck_assert(!cluster_keys_proof_ok(&k, nonce, sizeof nonce, "c1@127.0.0.1", proof, sizeof proof));
}
END_TEST

START_TEST(test_overlong_cookie_is_refused)
{
    char cookie[NMQ_CONF_STR_MAX + 1];
    memset(cookie, 'x', sizeof cookie - 1);
    cookie[sizeof cookie - 1] = '\0';
    cluster_keys_t k;
    ck_assert_int_eq(cluster_keys_derive(cookie, &k), -1);
    cookie[NMQ_CONF_STR_MAX - 1] = '\0';
    ck_assert_int_eq(cluster_keys_derive(cookie, &k), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cluster_keys");
    TCase *tc = tcase_create("keys");
    tcase_add_test(tc, test_same_cookie_same_keys);
    tcase_add_test(tc, test_public_keys_match_their_secrets);
    tcase_add_test(tc, test_another_cookie_another_client_key_same_transport_key);
    tcase_add_test(tc, test_proof_needs_the_cookie_the_nonce_and_the_name);
    tcase_add_test(tc, test_overlong_cookie_is_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

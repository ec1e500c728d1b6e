/* cluster_keys — what distributed_cookie becomes on the wire.
 *
 * The cookie is the cluster's shared secret; no key file is ever exchanged.
 * Every link is a ZeroMQ CURVE connection (encrypted, forward secret), and the
 * cookie authenticates both of its ends:
 *
 *   - the client (the dialing DEALER) holds the keypair derived from the
 *     cookie, secret = SHA-256(cookie || 0 || "nemomq cluster client v1");
 *     the server's ZAP handler admits that one public key and nothing else;
 *   - the server proves the cookie in WELCOME: HMAC-SHA256 over the client's
 *     HELLO nonce and the server's name, keyed with SHA-256(cookie || 0 ||
 *     "nemomq cluster proof v1").  A client says nothing but HELLO until the
 *     proof checks out.
 *
 * Why the server's CURVE key is not derived from the cookie as well: CURVE
 * would then turn a wrong cookie away before ZAP is asked (the server cannot
 * open the client's HELLO box), and the server would never see, let alone
 * log, who was refused; the client would only see connections dropped.  With
 * a server key every nemomq node knows (derived from a fixed label), the
 * handshake reaches ZAP, the server logs "peer ... refused: wrong cookie" and
 * the client is told (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH).  Confidentiality does
 * not rest on that key (session keys are ephemeral), and the server's
 * authenticity rests on the proof.
 */
#include "cluster.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <string.h>
#include <zmq.h>

#define S_TRANSPORT_LABEL "nemomq cluster transport v1"
#define S_CLIENT_LABEL    "nemomq cluster client v1"
#define S_PROOF_LABEL     "nemomq cluster proof v1"
#define S_PROOF_CONTEXT   "nemomq cluster welcome v1"

static void s_hash(const char *cookie, const char *label, uint8_t out[32])
{
    size_t n = strlen(cookie), m = strlen(label);
    uint8_t buf[NMQ_CONF_STR_MAX + 64];
    memcpy(buf, cookie, n);
    buf[n] = 0;
    memcpy(buf + n + 1, label, m);
    SHA256(buf, n + 1 + m, out);
    OPENSSL_cleanse(buf, sizeof buf);
}

static int s_keypair(const uint8_t secret[32], char pub[41], char sec[41])
{
    if (!zmq_z85_encode(sec, secret, 32))
        return -1;
    return zmq_curve_public(pub, sec);
}

int cluster_keys_derive(const char *cookie, cluster_keys_t *k)
{
    uint8_t secret[32];
    memset(k, 0, sizeof *k);
    if (strlen(cookie) >= NMQ_CONF_STR_MAX)
        return -1;
    s_hash("", S_TRANSPORT_LABEL, secret);
    int rc = s_keypair(secret, k->server_public, k->server_secret);
    s_hash(cookie, S_CLIENT_LABEL, secret);
    if (rc == 0)
        rc = s_keypair(secret, k->client_public, k->client_secret);
    if (rc == 0 && !zmq_z85_decode(k->client_public_bin, k->client_public))
        rc = -1;
    s_hash(cookie, S_PROOF_LABEL, k->proof_key);
    OPENSSL_cleanse(secret, sizeof secret);
    return rc;
}

void cluster_keys_proof(const cluster_keys_t *k, const uint8_t *nonce, size_t nonce_len, const char *server,
                        uint8_t out[32])
{
    uint8_t data[sizeof S_PROOF_CONTEXT + 64 + NMQ_CONF_STR_MAX];
    size_t n = 0, cl = sizeof S_PROOF_CONTEXT, sl = strlen(server);
    if (nonce_len > 64)
        nonce_len = 64;
    if (sl >= NMQ_CONF_STR_MAX)
        sl = NMQ_CONF_STR_MAX - 1;
    memcpy(data, S_PROOF_CONTEXT, cl);   /* with its NUL: a separator */
    n += cl;
    memcpy(data + n, nonce, nonce_len);
    n += nonce_len;
    memcpy(data + n, server, sl);
    n += sl;
    unsigned len = 32;
    HMAC(EVP_sha256(), k->proof_key, sizeof k->proof_key, data, n, out, &len);
}

bool cluster_keys_proof_ok(const cluster_keys_t *k, const uint8_t *nonce, size_t nonce_len, const char *server,
                           const uint8_t *proof, size_t proof_len)
{
    uint8_t want[32];
    if (proof_len != sizeof want)
        return false;
    cluster_keys_proof(k, nonce, nonce_len, server, want);
    return CRYPTO_memcmp(want, proof, sizeof want) == 0;
}

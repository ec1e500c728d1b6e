/* check_mqtt_roundtrip — decode(encode(p)) == p for packets from a seeded
 * generator (mqtt_gen.h): every type, every level, both directions, tens of
 * thousands of packets, plus the same packets as one stream cut into random
 * reads, and the PUBLISH header + iovec path against the plain encoder.
 *
 * `check_mqtt_roundtrip --gen-corpus DIR` writes the fuzzer's seed corpus
 * (test/fuzz/corpus/mqtt_stream) from the same generator: for each level and
 * packet type, a client stream (CONNECT first, as a server reads it) and a
 * server stream.  Seeds are fixed, so the files are the same on every run.
 */
#include "mqtt_gen.h"
#include "nmq_mqtt.h"

#include "mqtt_test.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_SIZE (1u << 20)
#define PER_LEVEL 20000

static mqtt_gen_t s_gen;
static uint8_t s_buf[BUF_SIZE];
static uint8_t s_buf2[BUF_SIZE];

static const unsigned s_levels[] = { NMQ_MQTT_V31, NMQ_MQTT_V311, NMQ_MQTT_V5 };

/* The decoder that reads what a client (or a server) sent, after CONNECT. */
static void s_peer(nmq_mqtt_decoder_t *d, unsigned level, int from_client, unsigned type)
{
    nmq_mqtt_role_t role = from_client ? NMQ_MQTT_ROLE_SERVER : NMQ_MQTT_ROLE_CLIENT;
    nmq_mqtt_decoder_init(d, role, type == NMQ_MQTT_CONNECT ? NMQ_MQTT_LEVEL_UNKNOWN : level, 0);
}

static size_t s_encode(unsigned level, const nmq_mqtt_packet_t *p, uint8_t *buf, size_t cap)
{
    size_t need = nmq_mqtt_encode(NULL, 0, level, p);
    ck_assert_msg(need > 0, "%s at level %u did not encode", nmq_mqtt_type_name(p->type), level);
    ck_assert_uint_le(need, cap);
    memset(buf, 0xA5, need + 1 <= cap ? need + 1 : need);
    ck_assert_uint_eq(nmq_mqtt_encode(buf, need - 1, level, p), need);     /* too small: nothing */
    ck_assert_uint_eq(buf[0], 0xA5);
    ck_assert_uint_eq(nmq_mqtt_encode(buf, cap, level, p), need);
    if (need < cap)
        ck_assert_uint_eq(buf[need], 0xA5);                               /* and no further */
    return need;
}

static void s_roundtrip(unsigned level, int from_client, const nmq_mqtt_packet_t *p)
{
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t q;
    size_t n = s_encode(level, p, s_buf, BUF_SIZE);
    s_peer(&d, level, from_client, p->type);
    nmq_mqtt_result_t r = nmq_mqtt_decode(&d, s_buf, n, &q);
    ck_assert_msg(r.status == NMQ_MQTT_OK, "%s level %u from %s: %s", nmq_mqtt_type_name(p->type), level,
                  from_client ? "client" : "server", nmq_mqtt_err_str(r.err));
    ck_assert_uint_eq(r.size, n);
    ck_assert_msg(nmq_mqtt_packet_equal(level, p, &q), "%s level %u differs after the round trip",
                  nmq_mqtt_type_name(p->type), level);
    /* encoding is canonical: the decoded packet encodes to the same bytes */
    ck_assert_uint_eq(nmq_mqtt_encode(s_buf2, BUF_SIZE, level, &q), n);
    ck_assert_mem_eq(s_buf, s_buf2, n);
}

/* Loop index i: level i / 2, client (even) or server (odd). */
START_TEST(test_roundtrip_random)
{
    unsigned level = s_levels[_i / 2];
    int from_client = !(_i % 2);
    nmq_mqtt_packet_t p;
    mqtt_gen_seed(&s_gen, 0xC0DEC000u + (unsigned)_i);
    for (int k = 0; k < PER_LEVEL; k++) {
        mqtt_gen_reset(&s_gen);
        mqtt_gen_any(&s_gen, level, from_client, &p);
        s_roundtrip(level, from_client, &p);
    }
}
END_TEST

START_TEST(test_roundtrip_every_type)
{
    unsigned level = s_levels[_i / 2];
    int from_client = !(_i % 2);
    uint8_t types[16];
    unsigned n = gen_types(level, from_client, types);
    nmq_mqtt_packet_t p;
    mqtt_gen_seed(&s_gen, 0x7E57u + (unsigned)_i);
    for (unsigned t = 0; t < n; t++) {
        for (int k = 0; k < 1000; k++) {
            mqtt_gen_reset(&s_gen);
            mqtt_gen_packet(&s_gen, level, from_client, types[t], &p);
            s_roundtrip(level, from_client, &p);
        }
    }
}
END_TEST

/* Header by nmq_mqtt_encode_publish_iov + payload == the whole packet. */
START_TEST(test_roundtrip_publish_iov)
{
    unsigned level = s_levels[_i];
    nmq_mqtt_packet_t p;
    uint8_t hdr[70000];
    struct iovec iov[2];
    mqtt_gen_seed(&s_gen, 0x10Fu + (unsigned)_i);
    for (int k = 0; k < 5000; k++) {
        mqtt_gen_reset(&s_gen);
        mqtt_gen_packet(&s_gen, level, k & 1, NMQ_MQTT_PUBLISH, &p);
        size_t n = s_encode(level, &p, s_buf, BUF_SIZE);
        int cnt = nmq_mqtt_encode_publish_iov(iov, hdr, sizeof hdr, level, &p.u.publish);
        ck_assert_int_eq(cnt, p.u.publish.payload.len ? 2 : 1);
        ck_assert_uint_eq(iov[0].iov_len + p.u.publish.payload.len, n);
        ck_assert_mem_eq(iov[0].iov_base, s_buf, iov[0].iov_len);
        if (cnt == 2)
            ck_assert_ptr_eq(iov[1].iov_base, p.u.publish.payload.ptr);
        ck_assert_int_eq(nmq_mqtt_encode_publish_iov(iov, hdr, iov[0].iov_len - 1, level, &p.u.publish), 0);
    }
}
END_TEST

/* Many packets in one buffer, then the same bytes arriving in random reads:
 * the same packets come out, in order, each at the same offset. */
START_TEST(test_roundtrip_stream)
{
    unsigned level = s_levels[_i / 2];
    int from_client = !(_i % 2);
    static size_t ends[4096];
    size_t len = 0, count = 0;
    nmq_mqtt_packet_t p, q;
    mqtt_gen_seed(&s_gen, 0x57EAu + (unsigned)_i);
    if (from_client) {
        mqtt_gen_packet(&s_gen, level, 1, NMQ_MQTT_CONNECT, &p);
        len += nmq_mqtt_encode(s_buf + len, BUF_SIZE - len, level, &p);
        ends[count++] = len;
    }
    while (count < 4096 && len < BUF_SIZE / 2) {
        mqtt_gen_reset(&s_gen);
        do
            mqtt_gen_any(&s_gen, level, from_client, &p);
        while (p.type == NMQ_MQTT_CONNECT);
        len += nmq_mqtt_encode(s_buf + len, BUF_SIZE - len, level, &p);
        ends[count++] = len;
    }
    for (int pass = 0; pass < 2; pass++) {
        nmq_mqtt_decoder_t d;
        size_t off = 0, have = pass ? 0 : len, seen = 0;
        s_peer(&d, level, from_client, from_client ? NMQ_MQTT_CONNECT : NMQ_MQTT_PUBLISH);
        while (seen < count) {
            nmq_mqtt_result_t r = nmq_mqtt_decode(&d, s_buf + off, have - off, &q);
            if (r.status == NMQ_MQTT_NEED_MORE) {
                ck_assert_uint_gt(r.size, have - off);
                ck_assert_uint_lt(have, len);
                have += 1 + gen_below(&s_gen, 300);
                have = have > len ? len : have;
                continue;
            }
            ck_assert_msg(r.status == NMQ_MQTT_OK, "%s", nmq_mqtt_err_str(r.err));
            off += r.size;
            ck_assert_uint_eq(off, ends[seen++]);
        }
        ck_assert_uint_eq(off, len);
    }
}
END_TEST

/* --- seed corpus ------------------------------------------------------------------ */

static int s_write(const char *dir, const char *name, const uint8_t *b, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f)) {
        perror(path);
        return -1;
    }
    return 0;
}

/* A stream of a few packets of `type` from one side: small ones, so that
 * the fuzzer starts from many short inputs. */
static size_t s_seed_stream(unsigned level, int from_client, unsigned type)
{
    nmq_mqtt_packet_t p;
    size_t len = 0;
    int packets = 0;
    if (from_client && type != NMQ_MQTT_CONNECT) {
        do {
            mqtt_gen_reset(&s_gen);
            mqtt_gen_packet(&s_gen, level, 1, NMQ_MQTT_CONNECT, &p);
        } while (nmq_mqtt_encode(NULL, 0, level, &p) > 256);
        len += nmq_mqtt_encode(s_buf + len, BUF_SIZE - len, level, &p);
    }
    while (packets < (type == NMQ_MQTT_CONNECT ? 1 : 3)) {
        mqtt_gen_reset(&s_gen);
        mqtt_gen_packet(&s_gen, level, from_client, type, &p);
        if (nmq_mqtt_encode(NULL, 0, level, &p) > 512)
            continue;
        len += nmq_mqtt_encode(s_buf + len, BUF_SIZE - len, level, &p);
        packets++;
    }
    return len;
}

static int s_gen_corpus(const char *dir)
{
    int files = 0;
    mqtt_gen_seed(&s_gen, 0x5EEDu);
    for (unsigned l = 0; l < 3; l++) {
        for (int from_client = 0; from_client < 2; from_client++) {
            uint8_t types[16];
            unsigned n = gen_types(s_levels[l], from_client, types);
            for (unsigned t = 0; t < n; t++) {
                for (int variant = 0; variant < 3; variant++) {
                    char name[96];
                    size_t len = s_seed_stream(s_levels[l], from_client, types[t]);
                    snprintf(name, sizeof name, "v%u-%s-%s-%d", s_levels[l], from_client ? "client" : "server",
                             nmq_mqtt_type_name(types[t]), variant);
                    if (s_write(dir, name, s_buf, len))
                        return 1;
                    files++;
                }
            }
        }
    }
    printf("wrote %d seed files to %s\n", files, dir);
    return 0;
}

static Suite *s_suite(void)
{
    Suite *s = suite_create("mqtt_roundtrip");
    TCase *tc = tcase_create("roundtrip");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_roundtrip_random, 0, 6);
    tcase_add_loop_test(tc, test_roundtrip_every_type, 0, 6);
    tcase_add_loop_test(tc, test_roundtrip_publish_iov, 0, 3);
    tcase_add_loop_test(tc, test_roundtrip_stream, 0, 6);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--gen-corpus"))
        return s_gen_corpus(argv[2]);
    return mqtt_run_suite(s_suite());
}

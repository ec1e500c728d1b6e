/* check_mqtt_stream — the decoder as the acceptor drives it: bytes arrive in
 * reads of any size, a read may end anywhere in a packet (in its remaining
 * length too) or hold many packets, and the size limit acts before the body
 * is waited for.  An acceptor-like loop keeps unconsumed bytes and calls the
 * decoder again when more come; every split of a stream must give the same
 * packets at the same offsets as the whole stream at once. */
#include "mqtt_test.h"

#define STREAM_V311 "10 { L'MQTT' 04 02 00 3c L'cid' } 82 { 00 01 L'a/+' 01 } 30 { L'a/b' 'one' } " \
                    "32 { L'a/c' 00 02 *300:62 } 40 { 00 02 } c0 00 a2 { 00 03 L'a/+' } e0 00"
#define STREAM_V5 "10 { L'MQTT' 05 02 00 3c { 11 00 00 00 0a } L'cid' } 82 { 00 01 { 0b 07 } L'a/+' 01 } " \
                  "30 { L'a/b' { 23 00 01 26 L'k' L'v' } 'one' } 30 { L'' { 23 00 01 } 'two' } "         \
                  "34 { L'a/c' 00 02 00 *20000:62 } 62 { 00 02 } c0 00 f0 { 19 { 15 L'm' } } e0 { 00 }"

typedef struct {
    size_t ends[64];
    uint8_t types[64];
    size_t count;
    int err;
} s_seen_t;

/* Feed buf[0..len) in reads whose sizes come from `cuts` (0 ends the list,
 * then reads are of `rest` bytes), as an acceptor would. */
static s_seen_t s_feed(const uint8_t *buf, size_t len, const size_t *cuts, size_t rest)
{
    s_seen_t seen = { .count = 0, .err = 0 };
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t p;
    size_t off = 0, have = 0;
    nmq_mqtt_decoder_init(&d, NMQ_MQTT_ROLE_SERVER, 0, 0);
    while (off < len) {
        nmq_mqtt_result_t r = nmq_mqtt_decode(&d, buf + off, have - off, &p);
        if (r.status == NMQ_MQTT_ERROR) {
            seen.err = r.err;
            break;
        }
        if (r.status == NMQ_MQTT_NEED_MORE) {
            ck_assert_uint_gt(r.size, have - off);
            if (have == len)
                break;
            size_t step = *cuts ? *cuts++ : rest;
            have = have + step > len ? len : have + step;
            continue;
        }
        off += r.size;
        seen.ends[seen.count] = off;
        seen.types[seen.count++] = p.type;
    }
    return seen;
}

static void s_same(const s_seen_t *a, const s_seen_t *b)
{
    ck_assert_uint_eq(a->count, b->count);
    ck_assert_int_eq(a->err, b->err);
    for (size_t i = 0; i < a->count; i++) {
        ck_assert_uint_eq(a->ends[i], b->ends[i]);
        ck_assert_uint_eq(a->types[i], b->types[i]);
    }
}

static const char *const s_streams[] = { STREAM_V311, STREAM_V5 };

/* Many packets in one buffer, one call each. */
START_TEST(test_stream_many_in_one_buffer)
{
    uint8_t *buf = mqtt_buf();
    size_t len = mqtt_spec(s_streams[_i], buf);
    size_t none[1] = { 0 };
    s_seen_t all = s_feed(buf, len, none, len);
    ck_assert_int_eq(all.err, 0);
    ck_assert_uint_eq(all.count, _i ? 9u : 8u);
    ck_assert_uint_eq(all.ends[all.count - 1], len);
    ck_assert_uint_eq(all.types[0], NMQ_MQTT_CONNECT);
}
END_TEST

/* One byte at a time, then every split into two reads, then odd sizes. */
START_TEST(test_stream_any_split)
{
    uint8_t *buf = mqtt_buf();
    size_t len = mqtt_spec(s_streams[_i], buf);
    size_t none[1] = { 0 };
    s_seen_t all = s_feed(buf, len, none, len);
    s_seen_t one = s_feed(buf, len, none, 1);
    s_same(&all, &one);
    for (size_t cut = 1; cut < len; cut += 1 + cut / 64) {
        size_t cuts[2] = { cut, 0 };
        s_seen_t two = s_feed(buf, len, cuts, len);
        s_same(&all, &two);
    }
    for (size_t step = 2; step < 40; step++) {
        s_seen_t odd = s_feed(buf, len, none, step);
        s_same(&all, &odd);
    }
}
END_TEST

/* The remaining length itself split: need-more first asks for one more
 * byte, then, once the length is whole, for the whole packet. */
START_TEST(test_stream_split_remaining_length)
{
    uint8_t *buf = mqtt_buf();
    size_t len = mqtt_spec("30 { L'a' *20000:61 }", buf);     /* 3-byte remaining length */
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t p;
    nmq_mqtt_decoder_init(&d, NMQ_MQTT_ROLE_SERVER, 4, 0);
    ck_assert_uint_eq(len, 1 + 3 + 20003);
    for (size_t k = 0; k < 4; k++) {
        nmq_mqtt_result_t r = nmq_mqtt_decode(&d, buf, k, &p);
        ck_assert_uint_eq(r.status, NMQ_MQTT_NEED_MORE);
        ck_assert_uint_eq(r.size, k + 1);
    }
    for (size_t k = 4; k < len; k += 997) {
        nmq_mqtt_result_t r = nmq_mqtt_decode(&d, buf, k, &p);
        ck_assert_uint_eq(r.status, NMQ_MQTT_NEED_MORE);
        ck_assert_uint_eq(r.size, len);
    }
    ck_assert_uint_eq(nmq_mqtt_decode(&d, buf, len, &p).status, NMQ_MQTT_OK);
}
END_TEST

/* Too large is known from the fixed header alone: no body is waited for. */
START_TEST(test_stream_too_large_before_body)
{
    uint8_t hdr[4] = { 0x30, 0x80, 0x80, 0x01 };              /* 16384 bytes to come */
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t p;
    nmq_mqtt_decoder_init(&d, NMQ_MQTT_ROLE_SERVER, 5, 16384);
    ck_assert_uint_eq(nmq_mqtt_decode(&d, hdr, 3, &p).status, NMQ_MQTT_NEED_MORE);
    nmq_mqtt_result_t r = nmq_mqtt_decode(&d, hdr, 4, &p);
    ck_assert_uint_eq(r.status, NMQ_MQTT_ERROR);
    ck_assert_uint_eq(r.err, NMQ_MQTT_E_TOO_LARGE);
    ck_assert_uint_eq(nmq_mqtt_outcome(&d).reason, 0x95);
    nmq_mqtt_decoder_init(&d, NMQ_MQTT_ROLE_SERVER, 5, 16388);
    r = nmq_mqtt_decode(&d, hdr, 4, &p);
    ck_assert_uint_eq(r.status, NMQ_MQTT_NEED_MORE);
    ck_assert_uint_eq(r.size, 16388);
}
END_TEST

/* A fifth length byte is refused once the fourth says one more comes. */
START_TEST(test_stream_fifth_length_byte)
{
    uint8_t hdr[5] = { 0x30, 0xff, 0xff, 0xff, 0xff };
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t p;
    nmq_mqtt_decoder_init(&d, NMQ_MQTT_ROLE_SERVER, 4, 0);
    ck_assert_uint_eq(nmq_mqtt_decode(&d, hdr, 4, &p).status, NMQ_MQTT_NEED_MORE);
    ck_assert_uint_eq(nmq_mqtt_decode(&d, hdr, 5, &p).err, NMQ_MQTT_E_REMAINING_LENGTH);
}
END_TEST

/* An error in the first byte shows with that byte alone. */
START_TEST(test_stream_first_byte_errors_early)
{
    static const uint8_t firsts[] = { 0x00, 0x36, 0x38, 0x80, 0xc1, 0x20, 0xd0 };
    for (size_t i = 0; i < sizeof firsts; i++) {
        nmq_mqtt_decoder_t d;
        nmq_mqtt_packet_t p;
        nmq_mqtt_decoder_init(&d, NMQ_MQTT_ROLE_SERVER, 4, 0);
        ck_assert_uint_eq(nmq_mqtt_decode(&d, &firsts[i], 1, &p).status, NMQ_MQTT_ERROR);
    }
}
END_TEST

/* The level is the CONNECT's: a 3.1.1 connection reads a 5.0-style PUBLISH
 * as 3.1.1 (its property length is payload), and the reverse fails. */
START_TEST(test_stream_level_from_connect)
{
    uint8_t *buf = mqtt_buf();
    size_t none[1] = { 0 };
    size_t len = mqtt_spec("10 { L'MQTT' 04 02 00 3c L'c' } 30 { L'a' 00 'x' }", buf);
    s_seen_t s = s_feed(buf, len, none, len);
    ck_assert_uint_eq(s.count, 2);
    len = mqtt_spec("10 { L'MQTT' 05 02 00 3c 00 L'c' } 30 { L'a' 05 'x' }", buf);
    s = s_feed(buf, len, none, len);
    ck_assert_uint_eq(s.count, 1);
    ck_assert_int_eq(s.err, NMQ_MQTT_E_TRUNCATED);
}
END_TEST

/* A stream cut at a malformed packet: the good ones before it come out, in
 * any split, then the same error. */
START_TEST(test_stream_error_after_packets)
{
    uint8_t *buf = mqtt_buf();
    size_t none[1] = { 0 };
    size_t len = mqtt_spec("10 { L'MQTT' 04 02 00 3c L'c' } c0 00 30 { L'a/#' 'x' } c0 00", buf);
    s_seen_t all = s_feed(buf, len, none, len);
    ck_assert_uint_eq(all.count, 2);
    ck_assert_int_eq(all.err, NMQ_MQTT_E_TOPIC_NAME);
    for (size_t step = 1; step < 12; step++) {
        s_seen_t part = s_feed(buf, len, none, step);
        s_same(&all, &part);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mqtt_stream");
    TCase *tc = tcase_create("stream");
    tcase_add_loop_test(tc, test_stream_many_in_one_buffer, 0, 2);
    tcase_add_loop_test(tc, test_stream_any_split, 0, 2);
    tcase_add_test(tc, test_stream_split_remaining_length);
    tcase_add_test(tc, test_stream_too_large_before_body);
    tcase_add_test(tc, test_stream_fifth_length_byte);
    tcase_add_test(tc, test_stream_first_byte_errors_early);
    tcase_add_test(tc, test_stream_level_from_connect);
    tcase_add_test(tc, test_stream_error_after_packets);
    suite_add_tcase(s, tc);
    return mqtt_run_suite(s);
}

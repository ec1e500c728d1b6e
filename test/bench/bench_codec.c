/* bench_codec — how fast the MQTT codec decodes and encodes the packets a
 * broker sees most: PUBLISH with a 64-byte payload (QoS 0 and 1, 3.1.1 and
 * 5.0) and CONNECT.
 *
 * Decoding runs as the acceptor does: a buffer holding 1024 packets back to
 * back, walked with nmq_mqtt_decode() (validation, UTF-8 and topic checks
 * included), over and over.  Encoding writes the whole packet, and for
 * PUBLISH also the header alone (the writev path).  One core, no threads;
 * prints ns per packet and packets per second.  A benchmark, not a test:
 * nothing here asserts a time.
 *
 *   bench_codec [seconds-per-case]      (default 0.5)
 */
#include "nmq_mqtt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 1024

static const char s_topic[] = "sensors/building-1/floor-2/temperature";
static uint8_t s_payload[64];
static volatile uint64_t s_sink;

typedef struct {
    const char *name;
    int encode;                 /* 0 decode, 1 encode, 2 PUBLISH header only */
    unsigned level;
    nmq_mqtt_packet_t pkt;
} s_case_t;

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void s_publish(nmq_mqtt_packet_t *p, unsigned qos)
{
    memset(p, 0, sizeof *p);
    p->type = NMQ_MQTT_PUBLISH;
    p->u.publish.qos = (uint8_t)qos;
    p->u.publish.packet_id = qos ? 4242 : 0;
    p->u.publish.topic = (nmq_mqtt_slice_t){ (const uint8_t *)s_topic, sizeof s_topic - 1 };
    p->u.publish.payload = (nmq_mqtt_slice_t){ s_payload, sizeof s_payload };
    nmq_mqtt_props_clear(&p->u.publish.props);
}

static void s_connect(nmq_mqtt_packet_t *p, unsigned level)
{
    memset(p, 0, sizeof *p);
    nmq_mqtt_connect_t *c = &p->u.connect;
    p->type = NMQ_MQTT_CONNECT;
    c->level = (uint8_t)level;
    c->clean_start = 1;
    c->keep_alive = 60;
    c->client_id = NMQ_MQTT_SLICE("bench-client-000042");
    c->has_username = c->has_password = 1;
    c->username = NMQ_MQTT_SLICE("device-42");
    c->password = NMQ_MQTT_SLICE("s3cret-t0ken");
    nmq_mqtt_props_clear(&c->props);
    nmq_mqtt_props_clear(&c->will_props);
    if (level == NMQ_MQTT_V5) {
        c->props.present = 1ull << NMQ_PROP_SESSION_EXPIRY | 1ull << NMQ_PROP_RECEIVE_MAXIMUM;
        c->props.session_expiry = 3600;
        c->props.receive_maximum = 100;
    }
}

/* Decode BATCH copies of the packet laid end to end, `rounds` times. */
static uint64_t s_run_decode(const s_case_t *c, const uint8_t *buf, size_t len, long rounds)
{
    nmq_mqtt_packet_t p;
    uint64_t n = 0;
    for (long r = 0; r < rounds; r++) {
        nmq_mqtt_decoder_t d;
        size_t off = 0;
        nmq_mqtt_decoder_init(&d, NMQ_MQTT_ROLE_SERVER, c->pkt.type == NMQ_MQTT_CONNECT ? 0 : c->level, 0);
        while (off < len) {
            nmq_mqtt_result_t res = nmq_mqtt_decode(&d, buf + off, len - off, &p);
            if (res.status != NMQ_MQTT_OK) {
                fprintf(stderr, "bench_codec: %s: %s\n", c->name, nmq_mqtt_err_str(res.err));
                exit(1);
            }
            off += res.size;
            s_sink += p.type;
            /* a CONNECT ends its connection's first packet: start a new one */
            if (p.type == NMQ_MQTT_CONNECT)
                nmq_mqtt_decoder_init(&d, NMQ_MQTT_ROLE_SERVER, 0, 0);
            n++;
        }
    }
    return n;
}

static uint64_t s_run_encode(const s_case_t *c, uint8_t *buf, size_t cap, long rounds)
{
    uint64_t n = 0;
    for (long r = 0; r < rounds; r++) {
        size_t off = 0;
        for (int i = 0; i < BATCH; i++) {
            if (c->encode == 2)
                off += nmq_mqtt_encode_publish_header(buf + off, cap - off, c->level, &c->pkt.u.publish);
            else
                off += nmq_mqtt_encode(buf + off, cap - off, c->level, &c->pkt);
            n++;
        }
        s_sink += buf[off - 1];
    }
    return n;
}

static uint64_t s_run(const s_case_t *c, uint8_t *buf, size_t len, size_t cap, long rounds)
{
    return c->encode ? s_run_encode(c, buf, cap, rounds) : s_run_decode(c, buf, len, rounds);
}

/* Run for about `secs`, growing the round count until a run is long enough. */
static void s_bench(const s_case_t *c, double secs)
{
    size_t one = nmq_mqtt_encode(NULL, 0, c->level, &c->pkt), cap = one * BATCH;
    uint8_t *buf = malloc(cap);
    size_t len = 0;
    for (int i = 0; i < BATCH; i++)
        len += nmq_mqtt_encode(buf + len, cap - len, c->level, &c->pkt);
    long rounds = 1;
    double t0, t;
    uint64_t n;
    s_run(c, buf, len, cap, 10);            /* warm up */
    for (;;) {
        t0 = s_now();
        n = s_run(c, buf, len, cap, rounds);
        t = s_now() - t0;
        if (t >= secs)
            break;
        rounds = t < secs / 20 ? rounds * 10 : (long)((double)rounds * secs / t) + 1;
    }
    if (c->encode == 2)
        one = nmq_mqtt_encode_publish_header(NULL, 0, c->level, &c->pkt.u.publish);
    printf("%-34s %7zu %10.1f %12.2f\n", c->name, one, t * 1e9 / (double)n, (double)n / t / 1e6);
    free(buf);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 0.5;
    static s_case_t cases[] = {
        { "decode PUBLISH QoS 0, 3.1.1", 0, 4, { 0 } },
        { "decode PUBLISH QoS 1, 3.1.1", 0, 4, { 0 } },
        { "decode PUBLISH QoS 0, 5.0", 0, 5, { 0 } },
        { "decode PUBLISH QoS 1, 5.0", 0, 5, { 0 } },
        { "decode CONNECT, 3.1.1", 0, 4, { 0 } },
        { "decode CONNECT, 5.0", 0, 5, { 0 } },
        { "encode PUBLISH QoS 0, 3.1.1", 1, 4, { 0 } },
        { "encode PUBLISH QoS 1, 3.1.1", 1, 4, { 0 } },
        { "encode PUBLISH QoS 0, 5.0", 1, 5, { 0 } },
        { "encode PUBLISH QoS 1, 5.0", 1, 5, { 0 } },
        { "encode PUBLISH header, QoS 1, 5.0", 2, 5, { 0 } },
        { "encode CONNECT, 3.1.1", 1, 4, { 0 } },
        { "encode CONNECT, 5.0", 1, 5, { 0 } },
    };
    for (size_t i = 0; i < sizeof s_payload; i++)
        s_payload[i] = (uint8_t)('a' + i % 26);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strstr(cases[i].name, "CONNECT"))
            s_connect(&cases[i].pkt, cases[i].level);
        else
            s_publish(&cases[i].pkt, strstr(cases[i].name, "QoS 1") ? 1 : 0);
    }
    printf("MQTT codec, one core, 64-byte payloads, topic of %zu bytes\n", sizeof s_topic - 1);
    printf("%-34s %7s %10s %12s\n", "case", "bytes", "ns/packet", "Mpackets/s");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        s_bench(&cases[i], secs);
    return s_sink == 42 ? 1 : 0;
}

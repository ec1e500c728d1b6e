/* fuzz_mqtt_stream — libFuzzer over the MQTT stream decoder.
 *
 * Each input is a byte stream as a peer would send it, decoded four ways: by
 * a server (level learnt from the CONNECT) and by a client at 3.1, 3.1.1 and
 * 5.0.  Beyond "no crash, no leak, no undefined behaviour" (ASan, UBSan), it
 * holds the decoder to what the acceptor relies on:
 *   - the same stream cut into reads of random sizes yields the same packets
 *     at the same offsets and the same final error as the whole stream;
 *     every read is an exact-size heap copy, so a look past the bytes given
 *     is an ASan report, not a silent read of the next ones;
 *   - NEED_MORE always asks for more than it was given;
 *   - every packet it accepts encodes (the encoder refuses nothing the
 *     decoder accepts), decodes back to an equal packet, and encodes again
 *     to the same bytes.
 * A broken property aborts, which libFuzzer reports as a crash.
 *
 * Seeds: test/fuzz/corpus/mqtt_stream, written by
 * `build/test/check_mqtt_roundtrip --gen-corpus DIR` (scripts/run-fuzz.sh
 * runs on a copy so the committed corpus does not grow).
 */
#include "nmq_mqtt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEEN 8192

typedef struct {
    uint32_t ends[MAX_SEEN];
    uint8_t types[MAX_SEEN];
    size_t count;
    uint8_t status, err;
} s_run_t;

static void s_fail(const char *what, unsigned mode, size_t at)
{
    fprintf(stderr, "fuzz_mqtt_stream: %s (mode %u, offset %zu)\n", what, mode, at);
    abort();
}

/* Mode 0: server, level from the CONNECT; 1..3: client at 3, 4, 5. */
static void s_init(nmq_mqtt_decoder_t *d, unsigned mode)
{
    if (mode == 0)
        nmq_mqtt_decoder_init(d, NMQ_MQTT_ROLE_SERVER, NMQ_MQTT_LEVEL_UNKNOWN, 1u << 20);
    else
        nmq_mqtt_decoder_init(d, NMQ_MQTT_ROLE_CLIENT, 2 + mode, 1u << 20);
}

/* The decoder that reads a packet like p at this point of the connection. */
static void s_init_after(nmq_mqtt_decoder_t *d, unsigned mode, unsigned level, unsigned type)
{
    if (mode == 0)
        nmq_mqtt_decoder_init(d, NMQ_MQTT_ROLE_SERVER, type == NMQ_MQTT_CONNECT ? 0 : level, 0);
    else
        nmq_mqtt_decoder_init(d, NMQ_MQTT_ROLE_CLIENT, level, 0);
}

static uint8_t *s_copy(const uint8_t *src, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    if (n)
        memcpy(b, src, n);
    return b;
}

/* encode(p) decodes to p, and encodes again to the same bytes. */
static void s_check_reencode(unsigned mode, unsigned level, const nmq_mqtt_packet_t *p, size_t at)
{
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t q;
    size_t n = nmq_mqtt_encode(NULL, 0, level, p);
    if (!n)
        s_fail("decoded packet does not encode", mode, at);
    uint8_t *a = malloc(n), *b = malloc(n);
    if (nmq_mqtt_encode(a, n, level, p) != n)
        s_fail("encode size changed", mode, at);
    s_init_after(&d, mode, level, p->type);
    nmq_mqtt_result_t r = nmq_mqtt_decode(&d, a, n, &q);
    if (r.status != NMQ_MQTT_OK || r.size != n)
        s_fail(r.status == NMQ_MQTT_ERROR ? nmq_mqtt_err_str(r.err) : "re-encoded packet incomplete", mode, at);
    if (!nmq_mqtt_packet_equal(level, p, &q))
        s_fail("re-encoded packet differs", mode, at);
    if (nmq_mqtt_encode(b, n, level, &q) != n || memcmp(a, b, n))
        s_fail("encoding is not canonical", mode, at);
    free(a);
    free(b);
}

static void s_record(s_run_t *run, size_t off, const nmq_mqtt_packet_t *p)
{
    if (run->count < MAX_SEEN) {
        run->ends[run->count] = (uint32_t)off;
        run->types[run->count] = p->type;
    }
    run->count++;
}

/* The whole stream in one buffer. */
static void s_whole(const uint8_t *data, size_t size, unsigned mode, s_run_t *run)
{
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t p;
    uint8_t *buf = s_copy(data, size);
    size_t off = 0;
    s_init(&d, mode);
    for (;;) {
        nmq_mqtt_result_t r = nmq_mqtt_decode(&d, buf + off, size - off, &p);
        run->status = r.status;
        run->err = r.err;
        if (r.status == NMQ_MQTT_NEED_MORE && r.size <= size - off)
            s_fail("NEED_MORE asks for no more than it has", mode, off);
        if (r.status != NMQ_MQTT_OK)
            break;
        s_check_reencode(mode, d.level, &p, off);
        off += r.size;
        s_record(run, off, &p);
    }
    free(buf);
}

/* The same in reads of 1 to 64 bytes, each decode on an exact copy of the
 * bytes not consumed yet. */
static void s_chunked(const uint8_t *data, size_t size, unsigned mode, uint32_t seed, s_run_t *run)
{
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t p;
    size_t off = 0, have = 0;
    s_init(&d, mode);
    for (;;) {
        uint8_t *buf = s_copy(data + off, have - off);
        nmq_mqtt_result_t r = nmq_mqtt_decode(&d, buf, have - off, &p);
        free(buf);
        if (r.status == NMQ_MQTT_NEED_MORE && have < size) {
            seed = seed * 1103515245u + 12345u;
            have += 1 + (seed >> 16) % 64;
            have = have > size ? size : have;
            continue;
        }
        run->status = r.status;
        run->err = r.err;
        if (r.status != NMQ_MQTT_OK)
            break;
        off += r.size;
        s_record(run, off, &p);
    }
}

static void s_compare(const s_run_t *a, const s_run_t *b, unsigned mode)
{
    if (a->count != b->count || a->status != b->status || a->err != b->err)
        s_fail("split stream decodes differently", mode, 0);
    size_t n = a->count < MAX_SEEN ? a->count : MAX_SEEN;
    for (size_t i = 0; i < n; i++)
        if (a->ends[i] != b->ends[i] || a->types[i] != b->types[i])
            s_fail("split stream decodes differently", mode, a->ends[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static s_run_t whole, chunked;
    uint32_t seed = 2166136261u;
    for (size_t i = 0; i < size && i < 64; i++)
        seed = (seed ^ data[i]) * 16777619u;
    for (unsigned mode = 0; mode < 4; mode++) {
        memset(&whole, 0, sizeof whole);
        memset(&chunked, 0, sizeof chunked);
        s_whole(data, size, mode, &whole);
        s_chunked(data, size, mode, seed + mode, &chunked);
        s_compare(&whole, &chunked, mode);
    }
    return 0;
}

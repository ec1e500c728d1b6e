/* nmq_mqtt_wire — the codec's private wire primitives: a bounds-checked reader
 * and a writer that measures or writes.
 *
 * Internal to nmq_mqtt_*.c.  Reader functions return an nmq_mqtt_err_t (0 is
 * success) so that a decoder is a straight line of `if ((e = ...)) return e;`.
 * The writer runs twice over the same code: with p == NULL it only counts,
 * which is how the encoder learns the remaining length before writing it, with
 * no second copy of the packet layouts to keep in step.
 */
#ifndef NMQ_MQTT_WIRE_H
#define NMQ_MQTT_WIRE_H

#include "nmq_mqtt.h"
#include "nmq_utf8.h"

#include <string.h>

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} nmq_rd_t;

static inline size_t nmq_rd_left(const nmq_rd_t *r)
{
    return (size_t)(r->end - r->p);
}

static inline int nmq_rd_u8(nmq_rd_t *r, uint8_t *v)
{
    if (r->p >= r->end)
        return NMQ_MQTT_E_TRUNCATED;
    *v = *r->p++;
    return 0;
}

static inline int nmq_rd_u16(nmq_rd_t *r, uint16_t *v)
{
    if (nmq_rd_left(r) < 2)
        return NMQ_MQTT_E_TRUNCATED;
    *v = (uint16_t)(r->p[0] << 8 | r->p[1]);
    r->p += 2;
    return 0;
}

static inline int nmq_rd_u32(nmq_rd_t *r, uint32_t *v)
{
    if (nmq_rd_left(r) < 4)
        return NMQ_MQTT_E_TRUNCATED;
    *v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
    r->p += 4;
    return 0;
}

/* Variable Byte Integer of at most 4 bytes, minimally encoded [MQTT-1.5.5-1]:
 * a last byte of 0 after a first one means a longer form than needed. */
static inline int nmq_rd_varint(nmq_rd_t *r, uint32_t *v)
{
    uint32_t val = 0;
    for (unsigned i = 0; i < 4; i++) {
        if (r->p >= r->end)
            return NMQ_MQTT_E_TRUNCATED;
        uint8_t b = *r->p++;
        val |= (uint32_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            if (i > 0 && b == 0)
                return NMQ_MQTT_E_VARINT;
            *v = val;
            return 0;
        }
    }
    return NMQ_MQTT_E_VARINT;
}

/* Two-byte length then that many bytes (Binary Data). */
static inline int nmq_rd_bin(nmq_rd_t *r, nmq_mqtt_slice_t *s)
{
    uint16_t n;
    if (nmq_rd_u16(r, &n) || nmq_rd_left(r) < n)
        return NMQ_MQTT_E_TRUNCATED;
    s->ptr = r->p;
    s->len = n;
    r->p += n;
    return 0;
}

static inline int nmq_utf8_err(const nmq_mqtt_slice_t *s)
{
    static const uint8_t map[] = {
        [NMQ_UTF8_OK] = NMQ_MQTT_E_OK,
        [NMQ_UTF8_ILL_FORMED] = NMQ_MQTT_E_UTF8,
        [NMQ_UTF8_NUL] = NMQ_MQTT_E_UTF8_NUL,
        [NMQ_UTF8_SURROGATE] = NMQ_MQTT_E_UTF8_SURROGATE,
    };
    return map[nmq_utf8_check(s->ptr, s->len)];
}

/* UTF-8 Encoded String [MQTT-1.5.4-1] [MQTT-1.5.4-2]. */
static inline int nmq_rd_str(nmq_rd_t *r, nmq_mqtt_slice_t *s)
{
    int e = nmq_rd_bin(r, s);
    return e ? e : nmq_utf8_err(s);
}

static inline bool nmq_slice_eq(nmq_mqtt_slice_t a, nmq_mqtt_slice_t b)
{
    return a.len == b.len && (!a.len || !memcmp(a.ptr, b.ptr, a.len));
}

static inline unsigned nmq_varint_size(uint32_t v)
{
    return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

typedef struct {
    uint8_t *p;                 /* NULL: measure only */
    size_t n;                   /* bytes so far */
    int bad;                    /* a field cannot be encoded */
} nmq_wr_t;

static inline void nmq_wr_bytes(nmq_wr_t *w, const void *src, size_t n)
{
    if (w->p && n)
        memcpy(w->p + w->n, src, n);
    w->n += n;
}

static inline void nmq_wr_u8(nmq_wr_t *w, uint8_t v)
{
    if (w->p)
        w->p[w->n] = v;
    w->n++;
}

static inline void nmq_wr_u16(nmq_wr_t *w, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
    nmq_wr_bytes(w, b, 2);
}

static inline void nmq_wr_u32(nmq_wr_t *w, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    nmq_wr_bytes(w, b, 4);
}

static inline void nmq_wr_varint(nmq_wr_t *w, uint32_t v)
{
    if (v > NMQ_MQTT_MAX_REMAINING) {
        w->bad = 1;
        return;
    }
    do {
        uint8_t b = v & 0x7F;
        v >>= 7;
        nmq_wr_u8(w, (uint8_t)(b | (v ? 0x80 : 0)));
    } while (v);
}

static inline void nmq_wr_bin(nmq_wr_t *w, nmq_mqtt_slice_t s)
{
    if (s.len > 0xFFFF) {
        w->bad = 1;
        return;
    }
    nmq_wr_u16(w, (uint16_t)s.len);
    nmq_wr_bytes(w, s.ptr, s.len);
}

/* Which packet types share a layout, once: a table indexed by type of the
 * functions prefix##connect, prefix##ack, ... that a file defines for each
 * layout (the encoder's body writers, the comparers). */
#define NMQ_MQTT_LAYOUT_TABLE(prefix)                                                                \
    {                                                                                                \
        [NMQ_MQTT_CONNECT] = prefix##connect, [NMQ_MQTT_CONNACK] = prefix##connack,                  \
        [NMQ_MQTT_PUBLISH] = prefix##publish, [NMQ_MQTT_PUBACK] = prefix##ack,                       \
        [NMQ_MQTT_PUBREC] = prefix##ack, [NMQ_MQTT_PUBREL] = prefix##ack,                            \
        [NMQ_MQTT_PUBCOMP] = prefix##ack, [NMQ_MQTT_SUBSCRIBE] = prefix##subscribe,                  \
        [NMQ_MQTT_SUBACK] = prefix##suback, [NMQ_MQTT_UNSUBSCRIBE] = prefix##unsubscribe,            \
        [NMQ_MQTT_UNSUBACK] = prefix##suback, [NMQ_MQTT_PINGREQ] = prefix##empty,                    \
        [NMQ_MQTT_PINGRESP] = prefix##empty, [NMQ_MQTT_DISCONNECT] = prefix##disconnect,             \
        [NMQ_MQTT_AUTH] = prefix##disconnect,                                                        \
    }

/* Shared by decode and encode (nmq_mqtt_props.c). */

/* The next element of a list that is either the caller's array (`size`
 * bytes an element) or a raw wire block read with `read`. */
bool nmq_mqtt_list_next(const void *array, size_t size, uint32_t count, nmq_mqtt_slice_t raw, nmq_mqtt_iter_t *it,
                        int (*read)(nmq_rd_t *r, void *out), void *out);
int nmq_mqtt_props_decode(nmq_rd_t *r, unsigned ctx, nmq_mqtt_role_t role, nmq_mqtt_props_t *p);
void nmq_mqtt_props_encode(nmq_wr_t *w, unsigned ctx, const nmq_mqtt_props_t *p);

#endif

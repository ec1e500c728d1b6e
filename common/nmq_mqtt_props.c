/* nmq_mqtt_props — MQTT 5.0 properties: the one table, and everything that
 * reads it (decoding and validating a property block, encoding one, walking
 * the repeatable ones, comparing).
 *
 * A row says all the spec says of a property on the wire (section 2.2.2.2 and
 * each packet's property list): its type, the packets a client and a server
 * may send it in (context 0 being the will properties), whether it repeats,
 * the range of its value and the error a value outside it gets, and where it
 * lives in nmq_mqtt_props_t.  No property has code of its own: adding one is a
 * row here and a field in the struct.
 *
 * Repeated properties (user properties, subscription identifiers) are not
 * copied out: decoding counts them and keeps the raw block, and the iterators
 * find them again there, so a PUBLISH with properties still decodes without
 * allocating.
 */
#include "nmq_mqtt_wire.h"
#include "nmq_topic_validate.h"

#include <stddef.h>

#define F(field) (uint16_t)offsetof(nmq_mqtt_props_t, field)
#define P(type) NMQ_MQTT_BIT(NMQ_MQTT_##type)
#define WILL NMQ_MQTT_BIT(NMQ_MQTT_WILL_PROPS)
#define ACKS (P(PUBACK) | P(PUBREC) | P(PUBREL) | P(PUBCOMP))
#define ANY_C (P(CONNECT) | WILL | P(PUBLISH) | ACKS | P(SUBSCRIBE) | P(UNSUBSCRIBE) | P(DISCONNECT) | P(AUTH))
#define ANY_S (P(CONNACK) | P(PUBLISH) | ACKS | P(SUBACK) | P(UNSUBACK) | P(DISCONNECT) | P(AUTH))
#define MSG_C (P(PUBLISH) | WILL)
#define AUTH_C (P(CONNECT) | P(AUTH))
#define AUTH_S (P(CONNACK) | P(AUTH))
#define U32MAX 0xFFFFFFFFu
#define BOOL_RANGE NMQ_MQTT_E_PROP_VALUE, 0, 1
#define ANY_RANGE NMQ_MQTT_E_PROP_VALUE, 0, U32MAX

/* Indexed by id.  Columns: id, type, flags, range error, min, max, sent by a
 * client in, sent by a server in, field, name. */
#define ROW(...) ROW_(__VA_ARGS__)
#define ROW_(id_, type_, flags_, rerr_, min_, max_, byc_, bys_, field_, name_) \
    [id_] = { .id = id_, .type = NMQ_PT_##type_, .flags = flags_, .range_err = rerr_, \
              .min = min_, .max = max_, .by_client = byc_, .by_server = bys_, \
              .offset = F(field_), .name = name_ }

static const nmq_mqtt_prop_info_t s_table[NMQ_PROP_ID_MAX + 1] = {
    ROW(0x01, BYTE, 0, BOOL_RANGE, MSG_C, P(PUBLISH), payload_format, "Payload Format Indicator"),
    ROW(0x02, U32, 0, ANY_RANGE, MSG_C, P(PUBLISH), message_expiry, "Message Expiry Interval"),
    ROW(0x03, STRING, 0, ANY_RANGE, MSG_C, P(PUBLISH), content_type, "Content Type"),
    ROW(0x08, STRING, NMQ_PF_TOPIC, ANY_RANGE, MSG_C, P(PUBLISH), response_topic, "Response Topic"),
    ROW(0x09, BINARY, 0, ANY_RANGE, MSG_C, P(PUBLISH), correlation_data, "Correlation Data"),
    /* a client names it in SUBSCRIBE [MQTT-3.3.4-6]; a server repeats it in PUBLISH */
    ROW(0x0B, VARINT, NMQ_PF_LIST | NMQ_PF_REPEAT_PUBLISH, NMQ_MQTT_E_PROP_VALUE, 1,
        NMQ_MQTT_MAX_REMAINING, P(SUBSCRIBE), P(PUBLISH), subscription_id, "Subscription Identifier"),
    /* never on a server's DISCONNECT [MQTT-3.14.2-2] */
    ROW(0x11, U32, 0, ANY_RANGE, P(CONNECT) | P(DISCONNECT), P(CONNACK), session_expiry,
        "Session Expiry Interval"),
    ROW(0x12, STRING, 0, ANY_RANGE, 0, P(CONNACK), assigned_client_id, "Assigned Client Identifier"),
    ROW(0x13, U16, 0, ANY_RANGE, 0, P(CONNACK), server_keep_alive, "Server Keep Alive"),
    ROW(0x15, STRING, 0, ANY_RANGE, AUTH_C, AUTH_S, auth_method, "Authentication Method"),
    ROW(0x16, BINARY, 0, ANY_RANGE, AUTH_C, AUTH_S, auth_data, "Authentication Data"),
    ROW(0x17, BYTE, 0, BOOL_RANGE, P(CONNECT), 0, request_problem_info, "Request Problem Information"),
    ROW(0x18, U32, 0, ANY_RANGE, WILL, 0, will_delay, "Will Delay Interval"),
    ROW(0x19, BYTE, 0, BOOL_RANGE, P(CONNECT), 0, request_response_info, "Request Response Information"),
    ROW(0x1A, STRING, 0, ANY_RANGE, 0, P(CONNACK), response_info, "Response Information"),
    ROW(0x1C, STRING, 0, ANY_RANGE, P(DISCONNECT), P(CONNACK) | P(DISCONNECT), server_reference,
        "Server Reference"),
    ROW(0x1F, STRING, 0, ANY_RANGE, ACKS | P(DISCONNECT) | P(AUTH), ANY_S & ~P(PUBLISH), reason_string,
        "Reason String"),
    ROW(0x21, U16, 0, NMQ_MQTT_E_PROP_VALUE, 1, 0xFFFF, P(CONNECT), P(CONNACK), receive_maximum,
        "Receive Maximum"),
    ROW(0x22, U16, 0, ANY_RANGE, P(CONNECT), P(CONNACK), topic_alias_maximum, "Topic Alias Maximum"),
    ROW(0x23, U16, 0, NMQ_MQTT_E_TOPIC_ALIAS, 1, 0xFFFF, P(PUBLISH), P(PUBLISH), topic_alias, "Topic Alias"),
    ROW(0x24, BYTE, 0, BOOL_RANGE, 0, P(CONNACK), maximum_qos, "Maximum QoS"),
    ROW(0x25, BYTE, 0, BOOL_RANGE, 0, P(CONNACK), retain_available, "Retain Available"),
    ROW(0x26, PAIR, NMQ_PF_LIST | NMQ_PF_REPEAT, ANY_RANGE, ANY_C, ANY_S, n_user, "User Property"),
    ROW(0x27, U32, 0, NMQ_MQTT_E_PROP_VALUE, 1, U32MAX, P(CONNECT), P(CONNACK), maximum_packet_size,
        "Maximum Packet Size"),
    ROW(0x28, BYTE, 0, BOOL_RANGE, 0, P(CONNACK), wildcard_sub_available, "Wildcard Subscription Available"),
    ROW(0x29, BYTE, 0, BOOL_RANGE, 0, P(CONNACK), sub_id_available, "Subscription Identifier Available"),
    ROW(0x2A, BYTE, 0, BOOL_RANGE, 0, P(CONNACK), shared_sub_available, "Shared Subscription Available"),
};

const nmq_mqtt_prop_info_t *nmq_mqtt_prop_info(unsigned id)
{
    return id <= NMQ_PROP_ID_MAX && s_table[id].type ? &s_table[id] : NULL;
}

void nmq_mqtt_props_clear(nmq_mqtt_props_t *p)
{
    p->present = 0;
    p->n_user = 0;
    p->n_sub_id = 0;
    p->block = (nmq_mqtt_slice_t){ NULL, 0 };
    p->user = NULL;
    p->sub_ids = NULL;
}

bool nmq_mqtt_props_empty(const nmq_mqtt_props_t *p)
{
    return !p->present && !p->n_user && !p->n_sub_id;
}

/* A value of any type: integers in v, strings and binary in s (and the
 * second string of a pair in s2). */
typedef struct {
    uint32_t v;
    nmq_mqtt_slice_t s, s2;
} s_value_t;

static int s_read(nmq_rd_t *r, unsigned type, s_value_t *val)
{
    uint8_t b = 0;
    uint16_t h = 0;
    int e;
    switch (type) {
    case NMQ_PT_BYTE:
        e = nmq_rd_u8(r, &b);
        val->v = b;
        return e;
    case NMQ_PT_U16:
        e = nmq_rd_u16(r, &h);
        val->v = h;
        return e;
    case NMQ_PT_U32:
        return nmq_rd_u32(r, &val->v);
    case NMQ_PT_VARINT:
        return nmq_rd_varint(r, &val->v);
    case NMQ_PT_STRING:
        return nmq_rd_str(r, &val->s);
    case NMQ_PT_BINARY:
        return nmq_rd_bin(r, &val->s);
    default:
        e = nmq_rd_str(r, &val->s);
        return e ? e : nmq_rd_str(r, &val->s2);
    }
}

static bool s_is_int(const nmq_mqtt_prop_info_t *row)
{
    return row->type <= NMQ_PT_VARINT;
}

static void *s_field(nmq_mqtt_props_t *p, const nmq_mqtt_prop_info_t *row)
{
    return (uint8_t *)p + row->offset;
}

static const void *s_cfield(const nmq_mqtt_props_t *p, const nmq_mqtt_prop_info_t *row)
{
    return (const uint8_t *)p + row->offset;
}

static void s_store(nmq_mqtt_props_t *p, const nmq_mqtt_prop_info_t *row, const s_value_t *val)
{
    void *f = s_field(p, row);
    if (row->type == NMQ_PT_BYTE)
        *(uint8_t *)f = (uint8_t)val->v;
    else if (row->type == NMQ_PT_U16)
        *(uint16_t *)f = (uint16_t)val->v;
    else if (s_is_int(row))
        *(uint32_t *)f = val->v;
    else
        *(nmq_mqtt_slice_t *)f = val->s;
}

static uint32_t s_load(const nmq_mqtt_props_t *p, const nmq_mqtt_prop_info_t *row)
{
    const void *f = s_cfield(p, row);
    if (row->type == NMQ_PT_BYTE)
        return *(const uint8_t *)f;
    if (row->type == NMQ_PT_U16)
        return *(const uint16_t *)f;
    return *(const uint32_t *)f;
}

static uint32_t *s_count(nmq_mqtt_props_t *p, unsigned id)
{
    return id == NMQ_PROP_USER ? &p->n_user : &p->n_sub_id;
}

static uint32_t s_ccount(const nmq_mqtt_props_t *p, unsigned id)
{
    return id == NMQ_PROP_USER ? p->n_user : p->n_sub_id;
}

static bool s_may_repeat(const nmq_mqtt_prop_info_t *row, unsigned ctx)
{
    return (row->flags & NMQ_PF_REPEAT) || ((row->flags & NMQ_PF_REPEAT_PUBLISH) && ctx == NMQ_MQTT_PUBLISH);
}

/* May the peer of `role` send this property in context ctx, once more? */
static int s_allowed(const nmq_mqtt_prop_info_t *row, unsigned ctx, nmq_mqtt_role_t role,
                     const nmq_mqtt_props_t *p)
{
    uint16_t peer = role == NMQ_MQTT_ROLE_SERVER ? row->by_client : row->by_server;
    if (!((row->by_client | row->by_server) & NMQ_MQTT_BIT(ctx)))
        return NMQ_MQTT_E_PROP_PACKET;
    if (!(peer & NMQ_MQTT_BIT(ctx)))
        return NMQ_MQTT_E_PROP_SENDER;
    bool seen = row->flags & NMQ_PF_LIST ? s_ccount(p, row->id) > 0 : nmq_mqtt_props_has(p, row->id);
    if (seen && !s_may_repeat(row, ctx))
        return NMQ_MQTT_E_PROP_TWICE;
    return 0;
}

static int s_check_value(const nmq_mqtt_prop_info_t *row, const s_value_t *val)
{
    if (s_is_int(row))
        return val->v < row->min || val->v > row->max ? row->range_err : 0;
    if (row->flags & NMQ_PF_TOPIC)
        return nmq_topic_name_check(val->s.ptr, val->s.len) ? row->range_err : 0;
    return 0;
}

static int s_decode_one(nmq_rd_t *b, unsigned ctx, nmq_mqtt_role_t role, nmq_mqtt_props_t *p)
{
    /* Identifiers are variable byte integers, but none is above 127: a first
     * byte with the top bit set names no property (or is not minimal). */
    const nmq_mqtt_prop_info_t *row = nmq_mqtt_prop_info(*b->p++);
    s_value_t val;
    int e;
    if (!row)
        return NMQ_MQTT_E_PROP_UNKNOWN;
    if ((e = s_allowed(row, ctx, role, p)) || (e = s_read(b, row->type, &val)) ||
        (e = s_check_value(row, &val)))
        return e;
    if (!(row->flags & NMQ_PF_LIST)) {
        p->present |= 1ull << row->id;
        s_store(p, row, &val);
    } else if ((*s_count(p, row->id))++ == 0 && row->type == NMQ_PT_VARINT) {
        s_store(p, row, &val);
    }
    return 0;
}

int nmq_mqtt_props_decode(nmq_rd_t *r, unsigned ctx, nmq_mqtt_role_t role, nmq_mqtt_props_t *p)
{
    uint32_t len;
    int e = nmq_rd_varint(r, &len);
    nmq_mqtt_props_clear(p);
    if (e)
        return e;
    if (len > nmq_rd_left(r))
        return NMQ_MQTT_E_TRUNCATED;
    p->block = (nmq_mqtt_slice_t){ r->p, len };
    nmq_rd_t b = { r->p, r->p + len };
    r->p += len;
    while (b.p < b.end)
        if ((e = s_decode_one(&b, ctx, role, p)))
            return e;
    if (nmq_mqtt_props_has(p, NMQ_PROP_AUTH_DATA) && !nmq_mqtt_props_has(p, NMQ_PROP_AUTH_METHOD))
        return NMQ_MQTT_E_AUTH_DATA;
    return 0;
}

/* --- walking lists -------------------------------------------------------------- */

bool nmq_mqtt_list_next(const void *array, size_t size, uint32_t count, nmq_mqtt_slice_t raw, nmq_mqtt_iter_t *it,
                        int (*read)(nmq_rd_t *r, void *out), void *out)
{
    if (it->idx >= count)
        return false;
    if (array) {
        memcpy(out, (const uint8_t *)array + (size_t)it->idx++ * size, size);
        return true;
    }
    if (!raw.ptr)
        return false;
    nmq_rd_t r = { raw.ptr + it->pos, raw.ptr + raw.len };
    if (read(&r, out))
        return false;
    it->pos = (uint32_t)(r.p - raw.ptr);
    it->idx++;
    return true;
}

/* The next property `want` in a property block; its value read. */
static int s_find(nmq_rd_t *r, unsigned want, s_value_t *val)
{
    while (r->p < r->end) {
        const nmq_mqtt_prop_info_t *row = nmq_mqtt_prop_info(*r->p++);
        if (!row || s_read(r, row->type, val))
            return NMQ_MQTT_E_PROP_UNKNOWN;
        if (row->id == want)
            return 0;
    }
    return NMQ_MQTT_E_TRUNCATED;
}

static int s_read_user(nmq_rd_t *r, void *out)
{
    s_value_t val;
    int e = s_find(r, NMQ_PROP_USER, &val);
    *(nmq_mqtt_pair_t *)out = (nmq_mqtt_pair_t){ val.s, val.s2 };
    return e;
}

static int s_read_sub_id(nmq_rd_t *r, void *out)
{
    s_value_t val;
    int e = s_find(r, NMQ_PROP_SUBSCRIPTION_ID, &val);
    *(uint32_t *)out = val.v;
    return e;
}

bool nmq_mqtt_user_next(const nmq_mqtt_props_t *p, nmq_mqtt_iter_t *it, nmq_mqtt_pair_t *out)
{
    return nmq_mqtt_list_next(p->user, sizeof *p->user, p->n_user, p->block, it, s_read_user, out);
}

bool nmq_mqtt_sub_id_next(const nmq_mqtt_props_t *p, nmq_mqtt_iter_t *it, uint32_t *out)
{
    return nmq_mqtt_list_next(p->sub_ids, sizeof *p->sub_ids, p->n_sub_id, p->block, it, s_read_sub_id, out);
}

/* --- encoding ------------------------------------------------------------------- */

static void s_write(nmq_wr_t *w, const nmq_mqtt_prop_info_t *row, const s_value_t *val)
{
    nmq_wr_u8(w, row->id);
    switch (row->type) {
    case NMQ_PT_BYTE:
        nmq_wr_u8(w, (uint8_t)val->v);
        break;
    case NMQ_PT_U16:
        nmq_wr_u16(w, (uint16_t)val->v);
        break;
    case NMQ_PT_U32:
        nmq_wr_u32(w, val->v);
        break;
    case NMQ_PT_VARINT:
        nmq_wr_varint(w, val->v);
        break;
    case NMQ_PT_PAIR:
        nmq_wr_bin(w, val->s);
        nmq_wr_bin(w, val->s2);
        break;
    default:
        nmq_wr_bin(w, val->s);
    }
}

/* A property the encoder is asked for must be one the packet takes, within
 * its range, and repeated only where that is allowed. */
static void s_put(nmq_wr_t *w, unsigned ctx, const nmq_mqtt_prop_info_t *row, const s_value_t *val,
                  uint32_t nth)
{
    if (!((row->by_client | row->by_server) & NMQ_MQTT_BIT(ctx)) || s_check_value(row, val) ||
        (nth > 0 && !s_may_repeat(row, ctx))) {
        w->bad = 1;
        return;
    }
    s_write(w, row, val);
}

static s_value_t s_get(const nmq_mqtt_props_t *p, const nmq_mqtt_prop_info_t *row)
{
    s_value_t val = { 0, { NULL, 0 }, { NULL, 0 } };
    if (s_is_int(row))
        val.v = s_load(p, row);
    else
        val.s = *(const nmq_mqtt_slice_t *)s_cfield(p, row);
    return val;
}

static void s_encode_body(nmq_wr_t *w, unsigned ctx, const nmq_mqtt_props_t *p)
{
    nmq_mqtt_iter_t it = { 0, 0 };
    s_value_t val = { 0, { NULL, 0 }, { NULL, 0 } };
    nmq_mqtt_pair_t kv;
    for (uint64_t bits = p->present; bits; bits &= bits - 1) {
        const nmq_mqtt_prop_info_t *row = nmq_mqtt_prop_info((unsigned)__builtin_ctzll(bits));
        if (!row || (row->flags & NMQ_PF_LIST)) {
            w->bad = 1;
            continue;
        }
        val = s_get(p, row);
        s_put(w, ctx, row, &val, 0);
    }
    for (uint32_t n = 0; nmq_mqtt_sub_id_next(p, &it, &val.v); n++)
        s_put(w, ctx, &s_table[NMQ_PROP_SUBSCRIPTION_ID], &val, n);
    if (it.idx != p->n_sub_id)          /* a count its source does not hold */
        w->bad = 1;
    it = (nmq_mqtt_iter_t){ 0, 0 };
    while (nmq_mqtt_user_next(p, &it, &kv)) {
        val.s = kv.key;
        val.s2 = kv.value;
        s_put(w, ctx, &s_table[NMQ_PROP_USER], &val, 0);
    }
    if (it.idx != p->n_user)
        w->bad = 1;
}

void nmq_mqtt_props_encode(nmq_wr_t *w, unsigned ctx, const nmq_mqtt_props_t *p)
{
    if (nmq_mqtt_props_empty(p)) {      /* the common case: one zero byte */
        nmq_wr_u8(w, 0);
        return;
    }
    nmq_wr_t m = { NULL, 0, 0 };
    s_encode_body(&m, ctx, p);
    if (m.n > NMQ_MQTT_MAX_REMAINING)
        m.bad = 1;
    else
        nmq_wr_varint(w, (uint32_t)m.n);
    w->bad |= m.bad;
    if (w->p && !w->bad) {
        nmq_wr_t out = { w->p + w->n, 0, 0 };
        s_encode_body(&out, ctx, p);
    }
    w->n += m.n;
}

/* --- comparison ----------------------------------------------------------------- */

static bool s_lists_equal(const nmq_mqtt_props_t *a, const nmq_mqtt_props_t *b)
{
    nmq_mqtt_iter_t ia = { 0, 0 }, ib = { 0, 0 };
    nmq_mqtt_pair_t ka, kb;
    uint32_t va, vb;
    if (a->n_user != b->n_user || a->n_sub_id != b->n_sub_id)
        return false;
    while (nmq_mqtt_user_next(a, &ia, &ka))
        if (!nmq_mqtt_user_next(b, &ib, &kb) || !nmq_slice_eq(ka.key, kb.key) || !nmq_slice_eq(ka.value, kb.value))
            return false;
    if (ia.idx != a->n_user)
        return false;
    ia = ib = (nmq_mqtt_iter_t){ 0, 0 };
    while (nmq_mqtt_sub_id_next(a, &ia, &va))
        if (!nmq_mqtt_sub_id_next(b, &ib, &vb) || va != vb)
            return false;
    return ia.idx == a->n_sub_id;
}

bool nmq_mqtt_props_equal(const nmq_mqtt_props_t *a, const nmq_mqtt_props_t *b)
{
    if (a->present != b->present)
        return false;
    for (uint64_t bits = a->present; bits; bits &= bits - 1) {
        const nmq_mqtt_prop_info_t *row = nmq_mqtt_prop_info((unsigned)__builtin_ctzll(bits));
        if (!row)
            return false;
        if (s_is_int(row) ? s_load(a, row) != s_load(b, row)
                          : !nmq_slice_eq(*(const nmq_mqtt_slice_t *)s_cfield(a, row),
                                        *(const nmq_mqtt_slice_t *)s_cfield(b, row)))
            return false;
    }
    return s_lists_equal(a, b);
}

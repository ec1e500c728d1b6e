/* bench_loop.h — the inside of one load process: its connections and loop.
 *
 * Three layers, as in a broker: bench_conn.c moves bytes (non-blocking
 * connect from a chosen source address, reads that decode in place, an
 * output buffer flushed once per loop turn), bench_client.c is the MQTT
 * client (handshake, publishing with a window, acks, checking deliveries),
 * bench_loop.c is the epoll loop and the run's phases.  Only this process
 * touches these structures, so nothing is locked.
 */
#ifndef BENCH_LOOP_H
#define BENCH_LOOP_H

#include "bench.h"

typedef enum {
    BENCH_ST_NEW = 0,           /* not started */
    BENCH_ST_TCP,               /* connect() under way */
    BENCH_ST_CONNACK,           /* CONNECT sent */
    BENCH_ST_SUBACK,            /* SUBSCRIBE sent */
    BENCH_ST_UP,
    BENCH_ST_CLOSED,
} bench_state_t;

typedef struct bench_conn {
    int fd;
    int g;                      /* number in the run */
    int index;                  /* within its kind */
    uint8_t kind;               /* bench_kind_t */
    uint8_t state;              /* bench_state_t */
    uint8_t pollout;            /* EPOLLOUT is armed */
    uint8_t dirty;              /* on the flush list */
    nmq_mqtt_decoder_t dec;
    uint8_t *rbuf;              /* a partial packet, or NULL */
    uint32_t rlen, rcap, rneed;
    uint8_t *wbuf;
    uint32_t woff, wlen, wcap;
    uint64_t t_start;           /* connect() */
    uint64_t t_tx;              /* last write, for the keep alive */
    struct bench_conn *next_dirty;
    /* publishers */
    char *topic;
    uint64_t seq;               /* next sequence number */
    uint64_t next_due;          /* rate mode: when the next message is due */
    uint32_t inflight;
    uint32_t window;
    uint16_t next_pid;
    uint64_t *pids;             /* QoS 1/2: packet ids in flight, one bit each */
    /* subscribers */
    bench_tracker_t *track;
    uint64_t *high;             /* $share member: one past the highest sequence it
                                 * got from each publisher (its group's tracker
                                 * finds duplicates, this finds reordering) */
} bench_conn_t;

typedef enum {
    BENCH_PH_CONNECT = 0,       /* opening connections */
    BENCH_PH_READY,             /* READY sent, waiting for GO */
    BENCH_PH_RUN,               /* GO received: publishing until t_end */
    BENCH_PH_DRAIN,             /* publishing over: acks and deliveries still come */
    BENCH_PH_DONE,
} bench_phase_t;

typedef struct bench_loop {
    const bench_cfg_t *cfg;
    int job;
    int ctl;                    /* control socket to the coordinator */
    int ep;                     /* epoll */
    bench_conn_t *conns;
    int n;
    int next_start;             /* next connection to open */
    int pending;                /* handshakes under way */
    int settled;                /* connections up or failed */
    bench_conn_t **pubs;
    int n_pubs;
    bench_tracker_t **trackers; /* by tracking group; NULL where this process has none */
    int n_groups;
    bench_stats_t st;
    bench_phase_t phase;
    uint64_t t_begin;           /* process start, for connect pacing */
    uint64_t t0, t_warm, t_end; /* GO, start and end of the measured window */
    uint64_t t_connect_deadline;
    uint64_t t_deadline;        /* a load process never outlives this */
    uint64_t interval;          /* rate mode: ns between one publisher's messages */
    uint64_t now;
    bench_conn_t *dirty;
    uint8_t *scratch;
    size_t scratch_cap;
    uint8_t *payload;           /* template: header rewritten per message */
} bench_loop_t;

/* bench_conn.c */
bool bench_conn_open(bench_loop_t *L, bench_conn_t *c);
/* Read what there is and hand each whole packet to bench_client_packet;
 * false when the connection is gone. */
bool bench_conn_read(bench_loop_t *L, bench_conn_t *c);
/* Room for n more bytes at the end of the output buffer. */
uint8_t *bench_conn_reserve(bench_conn_t *c, size_t n);
/* Queue for the flush at the end of the loop turn. */
void bench_conn_mark(bench_loop_t *L, bench_conn_t *c);
bool bench_conn_flush(bench_loop_t *L, bench_conn_t *c);
void bench_conn_flush_all(bench_loop_t *L);
/* Close: `err` (a printf format) says why, NULL for a close of our own. */
void bench_conn_close(bench_loop_t *L, bench_conn_t *c, const char *err, ...)
    __attribute__((format(printf, 3, 4)));

/* bench_client.c */
bool bench_client_connected(bench_loop_t *L, bench_conn_t *c);     /* TCP is up: send CONNECT */
bool bench_client_packet(bench_loop_t *L, bench_conn_t *c, const nmq_mqtt_packet_t *p);
/* Publish what is due and the window allows; false when the connection is gone. */
bool bench_client_publish(bench_loop_t *L, bench_conn_t *c);
bool bench_client_ping(bench_loop_t *L, bench_conn_t *c);
void bench_client_disconnect(bench_loop_t *L, bench_conn_t *c);
/* Encode p at the end of c's output buffer. */
bool bench_client_send(bench_loop_t *L, bench_conn_t *c, const nmq_mqtt_packet_t *p);

/* bench_loop.c: a connection reached UP or failed during the handshake */
void bench_loop_settled(bench_loop_t *L, bench_conn_t *c, bool up);

#endif

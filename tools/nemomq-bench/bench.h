/* bench.h — what the files of nemomq-bench share.
 *
 * nemomq-bench is a load generator for MQTT brokers on this machine.  One
 * run is one scenario (bench_scenario.c) with options (bench_options.c).
 * The first process plans the run and coordinates it (bench_procs.c); the
 * connections live in forked load processes, each one epoll loop
 * (bench_loop.c) over non-blocking sockets (bench_conn.c) speaking MQTT with
 * the project's codec (bench_client.c).  Subscribers check every payload's
 * publisher id and sequence number (bench_track.c) and record its latency in
 * a histogram (bench_hist.c); the coordinator merges what the processes
 * report and prints it (bench_report.c).
 *
 * Process layout:
 *
 *   nemomq-bench (coordinator: plan, barrier, drain, report; no connection)
 *   ├── load 0   connections g with g % jobs == 0 (and all $share members)
 *   ├── load 1   ...
 *   └── load N-1
 *
 * The processes talk over one SOCK_SEQPACKET socketpair each: the load
 * processes send READY, PROGRESS (counters, ten times a second) and FINAL
 * (counters and histograms); the coordinator sends GO (the common start time
 * on CLOCK_MONOTONIC, which every process of the machine shares) and FINISH.
 */
#ifndef BENCH_H
#define BENCH_H

#include "nmq_mqtt.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BENCH_MAX_HOSTS 16
#define BENCH_PAYLOAD_HDR 24         /* run tag, publisher id, sequence, send time */
#define BENCH_ERR_LEN 256
#define BENCH_NS 1000000000ull

/* --- histogram (bench_hist.c) ------------------------------------------------
 * Log-linear buckets over nanoseconds: 2^BENCH_HIST_SUB buckets per power of
 * two, so any value is known within 1/64 (1.6 %).  Fixed size, so histograms
 * of several processes merge by adding arrays. */
#define BENCH_HIST_SUB 6
#define BENCH_HIST_BUCKETS ((64 - BENCH_HIST_SUB + 1) << BENCH_HIST_SUB)

typedef struct {
    uint64_t count;
    uint64_t min, max;
    uint64_t sum;
    uint64_t b[BENCH_HIST_BUCKETS];
} bench_hist_t;

void bench_hist_init(bench_hist_t *h);
void bench_hist_record(bench_hist_t *h, uint64_t v);
void bench_hist_merge(bench_hist_t *into, const bench_hist_t *from);
/* The value at quantile q (0..1): the upper bound of its bucket, never more
 * than the largest value recorded; 0 for an empty histogram. */
uint64_t bench_hist_quantile(const bench_hist_t *h, double q);

/* --- scenarios (bench_scenario.c) -------------------------------------------- */

/* Which counts a scenario takes from the command line. */
enum {
    BENCH_C_PUBS = 1,           /* -P */
    BENCH_C_SUBS = 2,           /* -S */
    BENCH_C_PAIRS = 4,          /* -n */
    BENCH_C_CONNS = 8,          /* -c */
};

/* Which publishers a subscriber's filter matches. */
typedef enum {
    BENCH_SEES_NONE = 0,        /* idle connections (conn) */
    BENCH_SEES_ALL,             /* every publisher's topic */
    BENCH_SEES_OWN,             /* the publisher with its own index (p2p) */
} bench_sees_t;

typedef struct bench_scenario {
    const char *name;
    const char *doc;
    unsigned counts;            /* BENCH_C_* it takes */
    int pubs, subs;             /* defaults (pairs: pubs; conn: subs is C) */
    uint8_t sees;               /* bench_sees_t */
    uint8_t exact;              /* subscribers use the one topic, not a wildcard */
    uint8_t shared;             /* subscribers form one $share group */
} bench_scenario_t;

const bench_scenario_t *bench_scenario_find(const char *name);
/* "fanin fanout p2p shared conn" and one line each, for the usage text. */
void bench_scenario_list(FILE *out);

/* --- options and plan (bench_options.c, bench_scenario.c) ---------------------- */

typedef struct {
    struct in_addr addr;
    uint16_t port;
} bench_host_t;

typedef struct bench_cfg {
    const bench_scenario_t *scn;
    bench_host_t pub_hosts[BENCH_MAX_HOSTS];
    int n_pub_hosts;
    bench_host_t sub_hosts[BENCH_MAX_HOSTS];
    int n_sub_hosts;
    int port;                   /* of hosts given without one */
    int level;                  /* NMQ_MQTT_V311 or NMQ_MQTT_V5 */
    int qos;
    int pubs, subs, pairs, conns;   /* as given; -1: the scenario's default */
    int payload;
    double rate;                /* msg/s over all publishers; 0: as fast as possible */
    int window;                 /* QoS 1/2 messages in flight per publisher; QoS 0:
                                 * messages written per publisher and loop turn */
    double duration, warmup, drain, connect_timeout;
    double connect_rate;        /* new connections per second; 0: as fast as allowed */
    int max_pending;            /* handshakes under way per load process */
    int jobs;                   /* load processes; 0: as many as the file limit needs */
    int sources;                /* source addresses 127.0.0.1..N; 0: as many as needed */
    int keepalive;
    const char *topic;          /* topic prefix; default nmqbench/<tag> */
    int verbose;

    /* --- the plan, derived by bench_plan() --- */
    int n_pubs, n_subs, n_idle; /* connections of each kind */
    int total;                  /* n_subs + n_pubs + n_idle */
    uint64_t mult;              /* deliveries expected per message sent */
    uint32_t tag;               /* random run tag, in client ids, topics, payloads */
    char prefix[128];           /* topic prefix */
    int fd_limit;               /* files one process may open */
} bench_cfg_t;

/* Parse argv into cfg; on a usage error print it and return false. */
bool bench_options_parse(bench_cfg_t *cfg, int argc, char **argv);
void bench_options_usage(FILE *out);

/* Counts, processes, source addresses, topic prefix.  False with a message
 * on stderr when the run cannot be done as asked. */
bool bench_plan(bench_cfg_t *cfg);

/* Connection g of the run: its kind, index within the kind and owner. */
typedef enum {
    BENCH_SUB = 0,
    BENCH_PUB = 1,
    BENCH_IDLE = 2,
} bench_kind_t;

bench_kind_t bench_plan_kind(const bench_cfg_t *cfg, int g, int *index);
int bench_plan_owner(const bench_cfg_t *cfg, int g);
/* Publisher i's topic and subscriber j's filter, NUL-terminated. */
int bench_plan_topic(const bench_cfg_t *cfg, int pub, char *buf, size_t cap);
int bench_plan_filter(const bench_cfg_t *cfg, int sub, char *buf, size_t cap);
/* The tracking group of subscriber j (all $share members are one group) and
 * the publishers it hears: [*first, *first + *n). */
int bench_plan_group(const bench_cfg_t *cfg, int sub, int *first, int *n);
int bench_plan_groups(const bench_cfg_t *cfg);
const bench_host_t *bench_plan_host(const bench_cfg_t *cfg, int g);
/* Source address of connection g, or 0 to let the kernel choose (network order). */
uint32_t bench_plan_source(const bench_cfg_t *cfg, int g);

/* --- sequence tracking (bench_track.c) -----------------------------------------
 * A tracker is what one tracking group (a subscriber, or a whole $share
 * group) has heard from its publishers. */
typedef enum {
    BENCH_SEQ_NEW = 0,          /* first copy, in order */
    BENCH_SEQ_LATE,             /* first copy, after a later one */
    BENCH_SEQ_DUP,
    BENCH_SEQ_STRAY,            /* from a publisher this group does not hear */
} bench_seq_verdict_t;

typedef struct bench_tracker bench_tracker_t;

bench_tracker_t *bench_tracker_new(int first_pub, int n_pubs);
void bench_tracker_destroy(bench_tracker_t **t);
bench_seq_verdict_t bench_tracker_see(bench_tracker_t *t, uint32_t pub, uint64_t seq);

/* --- counters (what a load process reports) ------------------------------------- */

/* The counters that add up over processes, with what each counts. */
#define BENCH_SUMS(X) \
    X(sent)             /* PUBLISH written (first sends) */ \
    X(sent_window)      /* ... during the measured window */ \
    X(acked)            /* QoS 1/2 handshakes completed by publishers */ \
    X(inflight)         /* QoS 1/2 not yet completed */ \
    X(received)         /* PUBLISH with our payload at subscribers */ \
    X(recv_window)      /* ... received during the measured window */ \
    X(unique)           /* first copies */ \
    X(dup) \
    X(ooo)              /* older than one already seen from that publisher */ \
    X(stray)            /* not our run's payload, or from an unexpected publisher */ \
    X(conn_ok)          /* CONNACK (and SUBACK) received */ \
    X(conn_failed)      /* never got there */ \
    X(conn_lost)        /* up, then closed by the broker */ \
    X(proto_err)        /* the broker sent what the codec refuses, or an unknown ack */

typedef struct bench_counts {
#define BENCH_SUM_FIELD(name) uint64_t name;
    BENCH_SUMS(BENCH_SUM_FIELD)
#undef BENCH_SUM_FIELD
    uint64_t t_first_connect;   /* CLOCK_MONOTONIC ns; 0: none */
    uint64_t t_last_connack;
    uint32_t pubs_done;         /* publishing over (the window closed) */
    uint32_t ready;             /* every connection of the process up or failed */
    char err[BENCH_ERR_LEN];    /* the first error, for the report */
} bench_counts_t;

typedef struct bench_stats {
    bench_counts_t c;
    bench_hist_t lat;           /* publish to delivery, messages of the window */
    bench_hist_t hs;            /* connect() to CONNACK */
} bench_stats_t;

void bench_counts_add(bench_counts_t *into, const bench_counts_t *from);
void bench_counts_error(bench_counts_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* --- control messages between coordinator and load processes (bench_procs.c) ---- */

typedef enum {
    BENCH_MSG_READY = 1,        /* load -> coordinator: counts */
    BENCH_MSG_PROGRESS,         /* load -> coordinator: counts */
    BENCH_MSG_FINAL,            /* load -> coordinator: stats */
    BENCH_MSG_GO,               /* coordinator -> load: t0 */
    BENCH_MSG_FINISH,           /* coordinator -> load */
} bench_msg_type_t;

typedef struct {
    uint32_t type;
    uint32_t job;
    uint64_t t0;                /* GO: publishing starts (ns, CLOCK_MONOTONIC) */
    bench_stats_t s;            /* READY and PROGRESS carry only s.c */
} bench_msg_t;

/* Send counts (or all stats for FINAL) to the coordinator. */
int bench_msg_send(int fd, uint32_t type, uint32_t job, const bench_stats_t *s);

/* --- the load process (bench_loop.c) ------------------------------------------- */

/* Runs connections g % jobs == job in this process until FINISH, then
 * sends FINAL on ctl.  Returns the exit status. */
int bench_loop_run(const bench_cfg_t *cfg, int job, int ctl);

/* --- the coordinator (bench_procs.c) and the report (bench_report.c) ----------- */

typedef enum {
    BENCH_OK = 0,
    BENCH_FAILED,               /* connections failed or were lost: figures are partial */
    BENCH_TIMEOUT,              /* a load process did not finish in time */
} bench_status_t;

typedef struct bench_result {
    bench_stats_t s;            /* merged */
    bench_status_t status;
    double connect_s;           /* first connect() to last CONNACK */
    double measured_s;          /* the window */
    double drain_s;             /* from the window's end to FINISH */
    int jobs_reported;
} bench_result_t;

int bench_procs_run(const bench_cfg_t *cfg, bench_result_t *res);
void bench_report_print(FILE *out, const bench_cfg_t *cfg, const bench_result_t *res);

/* --- time --------------------------------------------------------------------- */

uint64_t bench_now(void);       /* CLOCK_MONOTONIC in ns */

#endif

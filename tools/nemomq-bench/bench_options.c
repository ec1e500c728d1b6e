/* bench_options — the command line of nemomq-bench, as one table.
 *
 * Every option is a row: long and short name, the kind of value, the field
 * of bench_cfg_t it sets, its bounds and a line of help.  getopt_long's
 * arrays, the parser and the usage text are all built from the rows, so an
 * option is added in one place.  Hosts are checked here: the tool only ever
 * loads this machine, so anything outside 127.0.0.0/8 (or "localhost") is
 * refused before a socket is opened, and no name is ever resolved.
 */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    OPT_INT,
    OPT_DOUBLE,
    OPT_STR,
    OPT_HOSTS,          /* comma list of HOST[:PORT] into pub_hosts and/or sub_hosts */
    OPT_MQTT,           /* 3, 3.1.1, 4, 5, 5.0 */
    OPT_FLAG,           /* counts up, no value */
    OPT_HELP,
} s_opt_kind_t;

enum { TO_PUB = 1, TO_SUB = 2 };

typedef struct {
    const char *name;
    char short_name;            /* 0: long only */
    uint8_t kind;               /* s_opt_kind_t */
    size_t offset;              /* into bench_cfg_t; for OPT_HOSTS: TO_PUB | TO_SUB */
    double min, max;
    const char *arg;
    const char *help;
} s_opt_t;

#define F(field) offsetof(bench_cfg_t, field)

static const s_opt_t s_opts[] = {
    { "host", 'H', OPT_HOSTS, TO_PUB | TO_SUB, 0, 0, "HOST[:PORT],...",
      "brokers for every connection, round robin (default 127.0.0.1:1883); 127.0.0.0/8 only" },
    { "pub-host", 0, OPT_HOSTS, TO_PUB, 0, 0, "HOST[:PORT],...", "brokers of the publishers" },
    { "sub-host", 0, OPT_HOSTS, TO_SUB, 0, 0, "HOST[:PORT],...",
      "brokers of the subscribers and idle connections" },
    { "port", 'p', OPT_INT, F(port), 1, 65535, "PORT", "port of hosts given without one (default 1883)" },
    { "mqtt", 'V', OPT_MQTT, F(level), 0, 0, "3|5", "protocol: 3 for 3.1.1 (default), 5 for 5.0" },
    { "qos", 'q', OPT_INT, F(qos), 0, 2, "0|1|2", "QoS of publishes and subscriptions (default 0)" },
    { "publishers", 'P', OPT_INT, F(pubs), 1, 1000000, "N", "publishers (fanin, shared)" },
    { "subscribers", 'S', OPT_INT, F(subs), 1, 1000000, "N", "subscribers (fanin, fanout, shared)" },
    { "pairs", 'n', OPT_INT, F(pairs), 1, 1000000, "N", "publisher/subscriber pairs (p2p)" },
    { "connections", 'c', OPT_INT, F(conns), 1, 10000000, "N", "connections (conn)" },
    { "size", 's', OPT_INT, F(payload), BENCH_PAYLOAD_HDR, 16 << 20, "BYTES",
      "payload size (default 64, at least 24)" },
    { "rate", 'r', OPT_DOUBLE, F(rate), 0, 1e9, "MSG/S",
      "messages per second over all publishers; 0: as fast as possible (default)" },
    { "window", 'w', OPT_INT, F(window), 1, 65535, "N",
      "QoS 1/2 messages in flight per publisher (QoS 0: per write) (default 16)" },
    { "duration", 'd', OPT_DOUBLE, F(duration), 0.01, 3600, "SECONDS", "measured time (default 5)" },
    { "warmup", 'W', OPT_DOUBLE, F(warmup), 0, 600, "SECONDS",
      "publishing before the measured time (default 1)" },
    { "drain", 0, OPT_DOUBLE, F(drain), 0, 600, "SECONDS",
      "after publishing, wait at most this for deliveries and acks (default 10)" },
    { "connect-timeout", 0, OPT_DOUBLE, F(connect_timeout), 0.1, 3600, "SECONDS",
      "connections not up by then have failed (default 60)" },
    { "connect-rate", 0, OPT_DOUBLE, F(connect_rate), 0, 1e7, "N/S",
      "new connections per second; 0: as fast as allowed (default)" },
    { "max-pending", 0, OPT_INT, F(max_pending), 1, 100000, "N",
      "handshakes under way at once per load process (default 100)" },
    { "jobs", 'j', OPT_INT, F(jobs), 0, 256, "N",
      "load processes; 0: as many as the file limit needs (default)" },
    { "sources", 0, OPT_INT, F(sources), 0, 254, "N",
      "source addresses 127.0.0.1..127.0.0.N; 0: one per 5000 connections (default)" },
    { "keepalive", 'k', OPT_INT, F(keepalive), 0, 65535, "SECONDS", "MQTT keep alive (default 60)" },
    { "topic", 't', OPT_STR, F(topic), 0, 0, "PREFIX", "topic prefix (default nmqbench/<run tag>)" },
    { "verbose", 'v', OPT_FLAG, F(verbose), 0, 0, NULL, "progress on stderr every second" },
    { "help", 'h', OPT_HELP, 0, 0, 0, NULL, "this text" },
};

#define N_OPTS (sizeof s_opts / sizeof s_opts[0])

void bench_options_usage(FILE *out)
{
    fprintf(out,
            "usage: nemomq-bench SCENARIO [OPTION...]\n"
            "\n"
            "Load MQTT brokers on this machine and report throughput, loss, duplicates,\n"
            "order and latency.  The last line of output holds every figure as key=value.\n"
            "\n"
            "scenarios:\n");
    bench_scenario_list(out);
    fprintf(out, "\noptions:\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        const s_opt_t *o = &s_opts[i];
        char left[64];
        int n = o->short_name ? snprintf(left, sizeof left, "-%c, --%s", o->short_name, o->name)
                              : snprintf(left, sizeof left, "    --%s", o->name);
        if (o->arg && n < (int)sizeof left)
            snprintf(left + n, sizeof left - (size_t)n, " %s", o->arg);
        fprintf(out, "  %-34s %s\n", left, o->help);
    }
    fprintf(out,
            "\nexamples:\n"
            "  nemomq-bench p2p -H 127.0.0.1:1883 -n 500 -q 1 -d 10\n"
            "  nemomq-bench fanin --pub-host 127.0.0.1:1883 --sub-host 127.0.0.1:1884 -q 1 -V 5\n"
            "  nemomq-bench conn -c 100000 -j 8 -d 20\n");
}

/* A host of 127.0.0.0/8: "localhost" or a dotted quad, with an optional port. */
static bool s_host(const char *text, bench_host_t *h)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", text);
    char *colon = strrchr(buf, ':');
    h->port = 0;
    if (colon && strchr(buf, ':') == colon) {
        char *end;
        errno = 0;
        long p = strtol(colon + 1, &end, 10);
        if (errno || *end || end == colon + 1 || p < 1 || p > 65535) {
            fprintf(stderr, "nemomq-bench: bad port in '%s'\n", text);
            return false;
        }
        h->port = (uint16_t)p;
        *colon = '\0';
    }
    const char *name = !strcmp(buf, "localhost") ? "127.0.0.1" : buf;
    if (inet_pton(AF_INET, name, &h->addr) != 1 || (ntohl(h->addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "nemomq-bench: refusing host '%s': only addresses of 127.0.0.0/8 (this "
                "machine's loopback) may be loaded\n", text);
        return false;
    }
    return true;
}

static bool s_hosts(bench_cfg_t *cfg, unsigned to, const char *list)
{
    char *copy = strdup(list), *save = NULL;
    bool ok = copy != NULL;
    if (to & TO_PUB)
        cfg->n_pub_hosts = 0;
    if (to & TO_SUB)
        cfg->n_sub_hosts = 0;
    for (char *t = ok ? strtok_r(copy, ",", &save) : NULL; t && ok; t = strtok_r(NULL, ",", &save)) {
        bench_host_t h;
        if (!(ok = s_host(t, &h)))
            break;
        if ((to & TO_PUB && cfg->n_pub_hosts >= BENCH_MAX_HOSTS) ||
            (to & TO_SUB && cfg->n_sub_hosts >= BENCH_MAX_HOSTS)) {
            fprintf(stderr, "nemomq-bench: at most %d hosts\n", BENCH_MAX_HOSTS);
            ok = false;
            break;
        }
        if (to & TO_PUB)
            cfg->pub_hosts[cfg->n_pub_hosts++] = h;
        if (to & TO_SUB)
            cfg->sub_hosts[cfg->n_sub_hosts++] = h;
    }
    if (ok && ((to & TO_PUB && !cfg->n_pub_hosts) || (to & TO_SUB && !cfg->n_sub_hosts))) {
        fprintf(stderr, "nemomq-bench: empty host list\n");
        ok = false;
    }
    free(copy);
    return ok;
}

static bool s_number(const s_opt_t *o, const char *arg, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || end == arg || *end || !isfinite(v)) {
        fprintf(stderr, "nemomq-bench: --%s wants a number, not '%s'\n", o->name, arg);
        return false;
    }
    if (v < o->min || v > o->max) {
        fprintf(stderr, "nemomq-bench: --%s %s is out of range [%g, %g]\n", o->name, arg, o->min, o->max);
        return false;
    }
    if (o->kind == OPT_INT && v != (double)(long)v) {
        fprintf(stderr, "nemomq-bench: --%s wants a whole number, not '%s'\n", o->name, arg);
        return false;
    }
    *out = v;
    return true;
}

static bool s_apply(bench_cfg_t *cfg, const s_opt_t *o, const char *arg)
{
    char *field = (char *)cfg + o->offset;
    double v;
    switch (o->kind) {
    case OPT_INT:
        if (!s_number(o, arg, &v))
            return false;
        *(int *)(void *)field = (int)v;
        return true;
    case OPT_DOUBLE:
        if (!s_number(o, arg, &v))
            return false;
        *(double *)(void *)field = v;
        return true;
    case OPT_STR:
        *(const char **)(void *)field = arg;
        return true;
    case OPT_HOSTS:
        return s_hosts(cfg, (unsigned)o->offset, arg);
    case OPT_MQTT:
        if (!strcmp(arg, "3") || !strcmp(arg, "4") || !strcmp(arg, "3.1.1") || !strcmp(arg, "311"))
            *(int *)(void *)field = NMQ_MQTT_V311;
        else if (!strcmp(arg, "5") || !strcmp(arg, "5.0"))
            *(int *)(void *)field = NMQ_MQTT_V5;
        else {
            fprintf(stderr, "nemomq-bench: --mqtt is 3 (3.1.1) or 5 (5.0), not '%s'\n", arg);
            return false;
        }
        return true;
    case OPT_FLAG:
        (*(int *)(void *)field)++;
        return true;
    default:
        return false;
    }
}

static void s_defaults(bench_cfg_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->level = NMQ_MQTT_V311;
    cfg->pubs = cfg->subs = cfg->pairs = cfg->conns = -1;
    cfg->port = 1883;
    cfg->payload = 64;
    cfg->window = 16;
    cfg->duration = 5;
    cfg->warmup = 1;
    cfg->drain = 10;
    cfg->connect_timeout = 60;
    cfg->max_pending = 100;
    cfg->keepalive = 60;
    inet_pton(AF_INET, "127.0.0.1", &cfg->pub_hosts[0].addr);
    cfg->sub_hosts[0] = cfg->pub_hosts[0];
    cfg->n_pub_hosts = cfg->n_sub_hosts = 1;
}

/* A count the scenario does not take is an error, not silently ignored. */
static bool s_check_counts(const bench_cfg_t *cfg)
{
    static const struct {
        unsigned bit;
        size_t offset;
        const char *opt;
    } counts[] = {
        { BENCH_C_PUBS, F(pubs), "-P" },
        { BENCH_C_SUBS, F(subs), "-S" },
        { BENCH_C_PAIRS, F(pairs), "-n" },
        { BENCH_C_CONNS, F(conns), "-c" },
    };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        int v = *(const int *)(const void *)((const char *)cfg + counts[i].offset);
        if (v >= 0 && !(cfg->scn->counts & counts[i].bit)) {
            fprintf(stderr, "nemomq-bench: %s does not apply to %s\n", counts[i].opt, cfg->scn->name);
            return false;
        }
    }
    return true;
}

bool bench_options_parse(bench_cfg_t *cfg, int argc, char **argv)
{
    struct option longs[N_OPTS + 1];
    char shorts[2 * N_OPTS + 2];
    size_t ns = 0;
    s_defaults(cfg);
    for (size_t i = 0; i < N_OPTS; i++) {
        bool has_arg = s_opts[i].kind != OPT_FLAG && s_opts[i].kind != OPT_HELP;
        longs[i] = (struct option){ s_opts[i].name, has_arg ? required_argument : no_argument, NULL,
                                    256 + (int)i };
        if (s_opts[i].short_name) {
            shorts[ns++] = s_opts[i].short_name;
            if (has_arg)
                shorts[ns++] = ':';
        }
    }
    longs[N_OPTS] = (struct option){ 0, 0, 0, 0 };
    shorts[ns] = '\0';

    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        const s_opt_t *o = NULL;
        for (size_t i = 0; i < N_OPTS && !o; i++)
            if (c == 256 + (int)i || (c < 256 && c == s_opts[i].short_name))
                o = &s_opts[i];
        if (!o) {
            fprintf(stderr, "nemomq-bench: unknown option or missing value: %s\n", argv[optind - 1]);
            fprintf(stderr, "try: nemomq-bench --help\n");
            return false;
        }
        if (o->kind == OPT_HELP) {
            bench_options_usage(stdout);
            exit(0);
        }
        if (!s_apply(cfg, o, optarg))
            return false;
    }
    for (int i = 0; i < cfg->n_pub_hosts; i++)
        if (!cfg->pub_hosts[i].port)
            cfg->pub_hosts[i].port = (uint16_t)cfg->port;
    for (int i = 0; i < cfg->n_sub_hosts; i++)
        if (!cfg->sub_hosts[i].port)
            cfg->sub_hosts[i].port = (uint16_t)cfg->port;

    if (optind != argc - 1) {
        fprintf(stderr, "nemomq-bench: give one scenario (fanin, fanout, p2p, shared, conn)\n"
                        "try: nemomq-bench --help\n");
        return false;
    }
    if (!(cfg->scn = bench_scenario_find(argv[optind]))) {
        fprintf(stderr, "nemomq-bench: no scenario '%s' (have: fanin fanout p2p shared conn)\n", argv[optind]);
        return false;
    }
    if (cfg->topic && (!*cfg->topic || strpbrk(cfg->topic, "+#") || strlen(cfg->topic) > 100)) {
        fprintf(stderr, "nemomq-bench: --topic is a plain topic prefix of at most 100 bytes, without + or #\n");
        return false;
    }
    return s_check_counts(cfg);
}

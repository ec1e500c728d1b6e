/* bench_report — the counters of a run, merged and printed.
 *
 * A few lines for a person, then one line of key=value pairs holding every
 * figure, always the last line and always with the same keys, so scripts
 * (scripts/bench-brokers.py) read it with a split.  Latencies are in
 * microseconds, rates per second over the measured window, and "lost" is
 * what the scenario expected (sent x deliveries per message) minus the first
 * copies that arrived before the drain ended — a message still queued in the
 * broker when the run stops counts as lost, which is what a user would see.
 */
#include "bench.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

uint64_t bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * BENCH_NS + (uint64_t)ts.tv_nsec;
}

void bench_counts_add(bench_counts_t *into, const bench_counts_t *from)
{
#define BENCH_SUM_ADD(name) into->name += from->name;
    BENCH_SUMS(BENCH_SUM_ADD)
#undef BENCH_SUM_ADD
    if (from->t_first_connect && (!into->t_first_connect || from->t_first_connect < into->t_first_connect))
        into->t_first_connect = from->t_first_connect;
    if (from->t_last_connack > into->t_last_connack)
        into->t_last_connack = from->t_last_connack;
    into->pubs_done += from->pubs_done;
    into->ready += from->ready;
    if (!into->err[0])
        memcpy(into->err, from->err, sizeof into->err);
}

void bench_counts_error(bench_counts_t *c, const char *fmt, ...)
{
    if (c->err[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
}

static double s_us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

static const char *s_status(bench_status_t s)
{
    return s == BENCH_OK ? "ok" : s == BENCH_FAILED ? "failed" : "timeout";
}

static void s_lat_line(FILE *out, const char *what, const bench_hist_t *h)
{
    if (!h->count) {
        fprintf(out, "  %-12s none recorded\n", what);
        return;
    }
    fprintf(out, "  %-12s p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f us  (%llu samples)\n", what,
            s_us(bench_hist_quantile(h, 0.5)), s_us(bench_hist_quantile(h, 0.9)),
            s_us(bench_hist_quantile(h, 0.99)), s_us(bench_hist_quantile(h, 0.999)), s_us(h->max),
            (unsigned long long)h->count);
}

void bench_report_print(FILE *out, const bench_cfg_t *cfg, const bench_result_t *res)
{
    const bench_counts_t *c = &res->s.c;
    const bench_hist_t *lat = &res->s.lat, *hs = &res->s.hs;
    bool pubsub = cfg->scn->sees != BENCH_SEES_NONE;
    uint64_t expected = c->sent * cfg->mult;
    uint64_t lost = expected > c->unique ? expected - c->unique : 0;
    double win = res->measured_s > 0 ? res->measured_s : 1;
    double connect_rate = res->connect_s > 0 ? (double)c->conn_ok / res->connect_s : 0;
    const char *mqtt = cfg->level >= NMQ_MQTT_V5 ? "5.0" : "3.1.1";

    fprintf(out, "nemomq-bench %s: ", cfg->scn->name);
    if (pubsub)
        fprintf(out, "%d publishers, %d subscribers, MQTT %s, QoS %d, %d-byte payloads, ", cfg->n_pubs,
                cfg->n_subs, mqtt, cfg->qos, cfg->payload);
    else
        fprintf(out, "%d connections, MQTT %s, ", cfg->n_idle, mqtt);
    if (!pubsub)
        fprintf(out, "held %.1f s\n", cfg->duration);
    else if (cfg->rate > 0)
        fprintf(out, "%.0f msg/s\n", cfg->rate);
    else
        fprintf(out, "as fast as possible (window %d)\n", cfg->window);
    fprintf(out, "  connections  %llu up, %llu failed, %llu lost, in %.3f s (%.0f/s), %d process%s, %d source%s\n",
            (unsigned long long)c->conn_ok, (unsigned long long)c->conn_failed,
            (unsigned long long)c->conn_lost, res->connect_s, connect_rate, cfg->jobs, cfg->jobs == 1 ? "" : "es",
            cfg->sources ? cfg->sources : 1, cfg->sources > 1 ? "s" : "");
    s_lat_line(out, "handshake", hs);
    if (pubsub) {
        fprintf(out, "  measured     %.2f s after %.2f s of warm-up; drained %.2f s\n", res->measured_s,
                cfg->warmup, res->drain_s);
        fprintf(out, "  sent         %llu (%.0f/s)\n", (unsigned long long)c->sent, (double)c->sent_window / win);
        fprintf(out, "  received     %llu (%.0f/s) of %llu expected\n", (unsigned long long)c->received,
                (double)c->recv_window / win, (unsigned long long)expected);
        fprintf(out, "  lost %llu (%.3f%%)  duplicates %llu  out of order %llu  stray %llu  unacked %llu\n",
                (unsigned long long)lost, expected ? 100.0 * (double)lost / (double)expected : 0.0,
                (unsigned long long)c->dup, (unsigned long long)c->ooo, (unsigned long long)c->stray,
                (unsigned long long)c->inflight);
        s_lat_line(out, "latency", lat);
    }
    if (c->err[0])
        fprintf(out, "  first error  %s\n", c->err);
    fprintf(out, "  status       %s\n", s_status(res->status));

    fprintf(out,
            "scenario=%s mqtt=%s qos=%d pubs=%d subs=%d conns=%d payload=%d rate=%.0f window=%d jobs=%d "
            "sources=%d duration_s=%.3f warmup_s=%.3f drain_s=%.3f sent=%llu sent_rate=%.0f acked=%llu "
            "received=%llu recv_rate=%.0f expected=%llu unique=%llu lost=%llu loss_pct=%.4f dup=%llu ooo=%llu "
            "stray=%llu inflight=%llu conn_ok=%llu conn_failed=%llu conn_lost=%llu proto_err=%llu "
            "connect_s=%.3f connect_rate=%.0f hs_p50_us=%.1f hs_p99_us=%.1f hs_max_us=%.1f lat_count=%llu "
            "lat_mean_us=%.1f lat_p50_us=%.1f lat_p90_us=%.1f lat_p99_us=%.1f lat_p999_us=%.1f "
            "lat_max_us=%.1f connected_at_s=%.6f status=%s\n",
            cfg->scn->name, mqtt, cfg->qos, cfg->n_pubs, cfg->n_subs, cfg->total, cfg->payload, cfg->rate,
            cfg->window, cfg->jobs, cfg->sources ? cfg->sources : 1, res->measured_s, cfg->warmup, res->drain_s,
            (unsigned long long)c->sent, (double)c->sent_window / win, (unsigned long long)c->acked,
            (unsigned long long)c->received, (double)c->recv_window / win, (unsigned long long)expected,
            (unsigned long long)c->unique, (unsigned long long)lost,
            expected ? 100.0 * (double)lost / (double)expected : 0.0, (unsigned long long)c->dup,
            (unsigned long long)c->ooo, (unsigned long long)c->stray, (unsigned long long)c->inflight,
            (unsigned long long)c->conn_ok, (unsigned long long)c->conn_failed, (unsigned long long)c->conn_lost,
            (unsigned long long)c->proto_err, res->connect_s, connect_rate, s_us(bench_hist_quantile(hs, 0.5)),
            s_us(bench_hist_quantile(hs, 0.99)), s_us(hs->max), (unsigned long long)lat->count,
            lat->count ? s_us(lat->sum / lat->count) : 0.0, s_us(bench_hist_quantile(lat, 0.5)),
            s_us(bench_hist_quantile(lat, 0.9)), s_us(bench_hist_quantile(lat, 0.99)),
            s_us(bench_hist_quantile(lat, 0.999)), s_us(lat->max), (double)c->t_last_connack / 1e9,
            s_status(res->status));
}

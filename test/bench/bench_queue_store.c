/* bench_queue_store — how many messages a queue worker's store takes per
 * second: each message is one body plus one entry per subscriber (1, or 100
 * for fan-out), appended in turns of 1, 10, 100 or 1000 messages per commit
 * (group commit), with message_store.sync off (MDB_NOSYNC) and on (fsync).
 * A 64-byte payload on a 40-byte topic, as bench_codec.
 *
 * Each case runs for a time budget in a fresh directory under $TMPDIR (the
 * disk there is what sync on measures).  A benchmark, not a test: nothing
 * here asserts a time.
 *
 *   bench_queue_store [seconds-per-case]      (default 0.5)
 *
 */
#include "queue/queue_store.h"
#include "nmq_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ftw.h>
#include <time.h>
#include <unistd.h>

static const char s_topic[] = "sensors/building-1/floor-2/temperature";
static char s_payload[64];

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int s_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

typedef struct {
    double msgs_per_s, commits_per_s, us_per_commit;
} s_result_t;

static int s_case(bool sync, int fanout, int group, double secs, s_result_t *r)
{
    char dir[256], err[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/nmq_bench_qs_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    queue_store_opts_t o = { .path = dir, .sync = sync };
    queue_store_t *st = queue_store_open(&o, err, sizeof err);
    if (!st) {
        fprintf(stderr, "bench: %s\n", err);
        return -1;
    }
    char id[32];
    for (int f = 1; f <= fanout; f++) {
        snprintf(id, sizeof id, "client-%d", f);
        queue_store_session_put(st, id, &(queue_store_session_t){ .sid = f, .persistent = true });
    }
    queue_store_commit(st);
    queue_store_msg_t m = { .topic = s_topic, .topic_len = sizeof s_topic - 1, .payload = s_payload,
                            .payload_len = sizeof s_payload, .qos = 1, .published_at = 1 };
    uint64_t msgs = 0, commits = 0;
    double t0 = s_now(), t;
    do {
        for (int g = 0; g < group; g++) {
            uint64_t mid = ++msgs;
            if (queue_store_msg_put(st, mid, &m, fanout))
                return -1;
            for (int f = 1; f <= fanout; f++)
                if (queue_store_entry_put(st, f, mid, &(queue_store_entry_t){ .msg_id = mid, .qos = 1 }))
                    return -1;
        }
        if (queue_store_commit(st))
            return -1;
        commits++;
        t = s_now() - t0;
    } while (t < secs);
    r->msgs_per_s = msgs / t;
    r->commits_per_s = commits / t;
    r->us_per_commit = t * 1e6 / commits;
    queue_store_close(&st);
    nftw(dir, s_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 0.5;
    static const int groups[] = { 1, 10, 100, 1000 };
    static const int fanouts[] = { 1, 100 };
    memset(s_payload, 'x', sizeof s_payload);
    nmq_log_set_level(NMQ_LOG_WARNING);           /* map growth is info */
    printf("%-5s %7s %6s %12s %14s %10s %12s\n", "sync", "fan-out", "group", "msgs/s",
           "entries/s", "commits/s", "us/commit");
    for (int s = 0; s < 2; s++)
        for (size_t f = 0; f < sizeof fanouts / sizeof fanouts[0]; f++)
            for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
                s_result_t r;
                if (s_case(s, fanouts[f], groups[g], secs, &r)) {
                    fprintf(stderr, "bench: case failed\n");
                    return 1;
                }
                printf("%-5s %7d %6d %12.0f %14.0f %10.0f %12.1f\n", s ? "on" : "off", fanouts[f],
                       groups[g], r.msgs_per_s, r.msgs_per_s * fanouts[f], r.commits_per_s,
                       r.us_per_commit);
                fflush(stdout);
            }
    return 0;
}

/* nemomq-bench — a load tool for MQTT brokers on this machine.
 *
 *   nemomq-bench fanin|fanout|p2p|shared|conn [OPTION...]
 *
 * main only strings the layers together: options (bench_options.c), the
 * plan (bench_scenario.c), the coordinator and its load processes
 * (bench_procs.c, bench_loop.c) and the report (bench_report.c).  bench.h
 * describes the whole.  Exit status: 0 when the run went as planned (every
 * connection up and kept; loss is a figure, not a failure), 1 when it did
 * not (connections failed or lost, a load process missed its deadline),
 * 2 for usage errors, including a host outside 127.0.0.0/8.
 */
#include "bench.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    bench_cfg_t cfg;
    bench_result_t res;
    if (!bench_options_parse(&cfg, argc, argv) || !bench_plan(&cfg))
        return 2;
    int rc = bench_procs_run(&cfg, &res);
    if (res.s.c.err[0])
        fprintf(stderr, "nemomq-bench: %s\n", res.s.c.err);
    bench_report_print(stdout, &cfg, &res);
    fflush(stdout);
    return rc;
}

/* nemomq-admin — VerneMQ's vmq-admin for nemomq.
 *
 *   nemomq-admin [-c FILE] [--json] [--timeout=SECONDS] COMMAND [ARGS]
 *
 * A thin client: it finds the node from its config file (the node's control
 * socket lives in platform_data_dir/run), sends the command words as they are,
 * and prints what the supervisor answers, exiting with its status.  The grammar
 * and the command table live in the node (supervisor/sup_admin.c), so commands
 * added there need nothing here.  Exit status: the command's own; 2 for usage
 * errors; 1 when the node is not running.
 */
#include "nmq_admin_client.h"
#include "nmq_config.h"
#include "nmq_paths.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *config = NULL;
    bool json = false;
    int timeout_s = 60;
    char **words = calloc((size_t)argc + 1, sizeof *words);
    int nwords = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-c") && i + 1 < argc)
            config = argv[++i];
        else if (!strncmp(argv[i], "--config=", 9))
            config = argv[i] + 9;
        else if (!strcmp(argv[i], "--json"))
            json = true;
        else if (!strncmp(argv[i], "--timeout=", 10))
            timeout_s = atoi(argv[i] + 10);
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            words[nwords++] = "help";
        else
            words[nwords++] = argv[i];
    }
    if (!config)
        config = nmq_paths_default_config();
    char err[1024];
    nmq_config_t *cfg = nmq_admin_locate(config, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "nemomq-admin: %s\n", err);
        return NMQ_EXIT_CONFIG;
    }
    char *out = NULL, *errtext = NULL;
    int status = nmq_admin_call(cfg, nwords, words, json, timeout_s * 1000, &out, &errtext);
    if (out)
        fputs(out, stdout);
    if (errtext)
        fputs(errtext, stderr);
    free(out);
    free(errtext);
    free(words);
    nmq_config_destroy(&cfg);
    return status == NMQ_ADMIN_NOT_RUNNING ? 1 : status;
}

/* nemomq — main of the one binary every process of a node runs.
 *
 * Run by a person (no NMQ_ROLE in the environment) it is the command line:
 * `nemomq console | start | stop | ping | config ...` (sup_cli.c).  Exec'd by
 * that command line or by the supervisor, NMQ_ROLE says which process it is
 * to be, and this table says where that process begins.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nmq_worker.h"
#include "roles.h"
#include "sup_cli.h"
#include "sup_node.h"

static const struct {
    const char *role;
    int (*main)(void);
} s_roles[] = {
    { "supervisor", sup_node_main },
    { "portmap",    portmap_main },
    { "metadata",   meta_main },
    { "queue",      queue_main },
    { "cluster",    cluster_main },
    { "migration",  migration_main },
    { "acceptor",   acceptor_main },
};

int main(int argc, char **argv)
{
    const char *role = getenv(NMQ_ENV_ROLE);
    if (!role)
        return sup_cli_main(argc, argv);
    for (size_t i = 0; i < sizeof s_roles / sizeof s_roles[0]; i++)
        if (!strcmp(s_roles[i].role, role))
            return s_roles[i].main();
    fprintf(stderr, "nemomq: unknown role '%s' in %s\n", role, NMQ_ENV_ROLE);
    return 2;
}

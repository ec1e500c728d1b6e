/* portmap — "nemomq: portmap": epmd-like name -> port map on 4369, shared by the host's nodes.
 *
 * The foundation gives it the shared worker runtime only (HELLO/READY,
 * heartbeats, STOP, RELOAD); its own work arrives with the issues that need it.
 */
#include "roles.h"
#include "nmq_worker.h"

static const nmq_role_t s_role = { .name = "portmap" };

int portmap_main(void) { return nmq_worker_main(&s_role); }

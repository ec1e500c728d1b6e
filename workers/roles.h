/* roles — the entry point of each worker role.  supervisor/nemomq.c picks one
 * by the NMQ_ROLE the supervisor put in the environment. */
#ifndef NMQ_ROLES_H
#define NMQ_ROLES_H

int acceptor_main(void);
int queue_main(void);
int meta_main(void);
int cluster_main(void);
int migration_main(void);
int portmap_main(void);

#endif

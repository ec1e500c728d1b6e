/* portmap — the host's map from node names to cluster ports, epmd's job for
 * nemomq.  A node is named name@host; another node that wants to reach it asks
 * the port mapper on host:portmap.port (4369, epmd's port) which cluster port
 * `name` listens on.  Every node runs a portmap worker, but one port mapper
 * serves a host address: the first node's worker binds the port, the others
 * register with it (see portmap_main.c for the handover).
 *
 * The protocol, one request per line (ASCII, '\n'-terminated, a '\r' before
 * it is ignored, at most PORTMAP_LINE_MAX bytes); a connection may carry
 * several requests, answered in order:
 *
 *   REGISTER <name> <port>   -> OK | ERR <why>
 *        the connection now holds the name: when it closes (the registering
 *        process exits or dies) the name goes away, as with epmd.  A name
 *        held by a live connection is refused ("ERR name in use"), which is
 *        how two nodes with one name on one host are told apart.
 *   LOOKUP <name>            -> PORT <port> | ERR <why>
 *   NAMES                    -> NAME <name> <port> ... END
 *   PING                     -> PONG
 *
 * Names are the part of nodename before '@' ([A-Za-z0-9_-], at most
 * PORTMAP_NAME_MAX bytes); ports are 1..65535.  A malformed line is answered
 * with ERR and the connection is closed: it is not one of ours.
 *
 * portmap_proto.c is the pure part (lines in, requests and replies out, unit
 * tested); portmap_server.c serves; portmap_client.c is the asking side, used
 * by the portmap worker to register and by the cluster worker to look up.
 */
#ifndef PORTMAP_H
#define PORTMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PORTMAP_LINE_MAX 256
#define PORTMAP_NAME_MAX 64

/* --- protocol (portmap_proto.c, pure) ---------------------------------------- */

typedef enum { PORTMAP_REGISTER, PORTMAP_LOOKUP, PORTMAP_NAMES, PORTMAP_PING } portmap_verb_t;

typedef struct {
    portmap_verb_t verb;
    char name[PORTMAP_NAME_MAX + 1];
    uint16_t port;
} portmap_request_t;

typedef enum {
    PORTMAP_R_OK, PORTMAP_R_ERR, PORTMAP_R_PORT, PORTMAP_R_NAME, PORTMAP_R_END, PORTMAP_R_PONG
} portmap_reply_kind_t;

typedef struct {
    portmap_reply_kind_t kind;
    char name[PORTMAP_NAME_MAX + 1];   /* NAME */
    uint16_t port;                     /* PORT, NAME */
    char text[PORTMAP_LINE_MAX];       /* ERR: why */
} portmap_reply_t;

bool portmap_name_valid(const char *name, size_t len);
/* The name part of a nodename ("c1@127.0.0.1" -> "c1"); -1 when it is not name@host. */
int portmap_split_nodename(const char *nodename, char *name, size_t namelen, char *host, size_t hostlen);
/* A complete line at the start of buf: returns 1 with its length (without
 * "\r\n") and the bytes it took, 0 when none is complete yet, -1 when the line
 * is longer than PORTMAP_LINE_MAX. */
int portmap_next_line(const char *buf, size_t len, size_t *line_len, size_t *consumed);
/* 0 ok; -1 with *why set (a static string) */
int portmap_parse_request(const char *line, size_t len, portmap_request_t *req, const char **why);
int portmap_parse_reply(const char *line, size_t len, portmap_reply_t *reply);
/* The request line of req, '\n' included; its length or -1 if it does not fit. */
int portmap_format_request(const portmap_request_t *req, char *buf, size_t len);

/* --- addresses (portmap_client.c) -------------------------------------------- */

/* host (numeric, or a name resolved with getaddrinfo, which may block) and
 * port to a socket address; 0 or -1 with err. */
int portmap_resolve(const char *host, uint16_t port, struct sockaddr_storage *sa, socklen_t *salen,
                    char *err, size_t errlen);

/* --- the asking side (portmap_client.c) -------------------------------------- */

typedef struct portmap_conn portmap_conn_t;

enum { PORTMAP_CONN_AGAIN = 0, PORTMAP_CONN_REPLY = 1, PORTMAP_CONN_CLOSED = -1 };

/* A non-blocking connection to a port mapper with one request line queued
 * ("LOOKUP c1\n").  NULL with err when the socket cannot even be started. */
portmap_conn_t *portmap_conn_new(const char *host, uint16_t port, const char *line, char *err, size_t errlen);
int portmap_conn_fd(const portmap_conn_t *c);
/* POLLOUT while connecting or sending, POLLIN after. */
short portmap_conn_events(const portmap_conn_t *c);
/* Do the I/O revents allow; then, if a whole reply line is buffered, parse it
 * into *reply and return PORTMAP_CONN_REPLY (call again with revents 0 for the
 * next one).  PORTMAP_CONN_CLOSED when the connection failed or the other end
 * closed (portmap_conn_error says why). */
int portmap_conn_io(portmap_conn_t *c, short revents, portmap_reply_t *reply);
const char *portmap_conn_error(const portmap_conn_t *c);
/* Watch c on a worker's loop for the events it needs now; *watching holds what
 * is watched (0: nothing), so calling this after each portmap_conn_io() moves
 * the watch from POLLOUT to POLLIN.  0, or -1 when the loop is full. */
struct nmq_worker;
int portmap_conn_watch(struct nmq_worker *w, portmap_conn_t *c, short *watching,
                       void (*fn)(struct nmq_worker *w, void *arg, short revents), void *arg);
void portmap_conn_destroy(portmap_conn_t **c);

/* One LOOKUP run on a worker's loop, for the cluster worker: fn is called
 * exactly once, from the loop, with the port (> 0) or err; the lookup is freed
 * before fn runs, so fn drops the caller's pointer to it.  NULL with err when
 * it cannot start (then fn is never called).  portmap_lookup_expire() fails it
 * when its deadline has passed; portmap_lookup_cancel() drops it silently. */
typedef struct portmap_lookup portmap_lookup_t;
typedef void (portmap_lookup_fn)(void *arg, int port, const char *err);

portmap_lookup_t *portmap_lookup_start(struct nmq_worker *w, const char *host, uint16_t pm_port,
                                       const char *name, int timeout_ms, portmap_lookup_fn *fn, void *arg,
                                       char *err, size_t errlen);
/* ms until its deadline (0 when due; then it was failed and freed and *l is NULL). */
int portmap_lookup_expire(portmap_lookup_t **l, int64_t now_ms);
void portmap_lookup_cancel(portmap_lookup_t **l);

/* --- the serving side (portmap_server.c) ------------------------------------- */

typedef struct portmap_server portmap_server_t;

/* Serve on listen_fd (bound, listening, non-blocking; the server owns it).
 * The node's own name is in the map from the start, held by the server itself. */
portmap_server_t *portmap_server_new(int listen_fd, const char *self_name, uint16_t self_port);
/* The one fd to watch for POLLIN (an epoll set over the listener and the
 * connections). */
int portmap_server_fd(const portmap_server_t *s);
void portmap_server_io(portmap_server_t *s);
/* Drop connections idle too long without holding a name; ms until the next check. */
int portmap_server_tick(portmap_server_t *s, int64_t now_ms);
size_t portmap_server_names(const portmap_server_t *s);
void portmap_server_destroy(portmap_server_t **s);

int64_t portmap_now_ms(void);

#endif

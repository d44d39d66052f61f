/*
 * router: routing as data. A static table of method, path pattern,
 * handler and required access; one matcher that also reports the methods
 * a path allows, so that the dispatcher answers 404 and 405 itself.
 */
#ifndef CHATDESK_ROUTER_H
#define CHATDESK_ROUTER_H

#include <stddef.h>
#include <stdint.h>

struct app;
struct req;

#define ROUTER_MAX_IDS	2

/* Who may call a route; checked by the dispatcher before the handler. */
enum access {
	ACCESS_PUBLIC,		/* no token needed */
	ACCESS_USER,		/* any valid token */
	ACCESS_STAFF,		/* agent or admin */
	ACCESS_ADMIN,
	ACCESS_METRICS,		/* a loopback client, or an admin token */
	ACCESS_INTERNAL,	/* nginx's own subrequests; anyone else 404 */
	ACCESS_SELF		/* the handler authenticates (event tickets) */
};

typedef void (*route_fn)(struct app *, struct req *, const int64_t *ids);

struct route {
	const char	*method;
	const char	*pattern;	/* "/api/v1/rooms/{id}/messages" */
	route_fn	 fn;
	enum access	 access;
	/* Optional, before the access check: queues the Redis read the
	 * handler will make, to go out with the session's (cache_ahead). */
	route_fn	 ahead;
};

enum router_result {
	ROUTER_OK,
	ROUTER_NOT_FOUND,
	ROUTER_BAD_METHOD	/* allow holds "GET, POST" */
};

/*
 * Matches method and path against the n routes. On ROUTER_OK, *out is the
 * route and ids[] holds the {id} segments in order; HEAD matches a GET
 * route. On ROUTER_BAD_METHOD, allow holds the comma-separated methods
 * the path accepts (the table's; HEAD is implied by GET).
 */
enum router_result router_match(const struct route *table, size_t n,
    const char *method, const char *path, const struct route **out,
    int64_t ids[ROUTER_MAX_IDS], char *allow, size_t allowsz);

/* 1 if the path matches pattern, filling ids. Exposed for tests. */
int router_path_match(const char *pattern, const char *path,
    int64_t ids[ROUTER_MAX_IDS]);

#endif

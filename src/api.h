/*
 * api: the route table and the handlers, one file per resource
 * (api_health.c, api_users.c, ...). A handler reads like the contract it
 * implements: it validates, calls db/cache/queue, and answers.
 */
#ifndef CHATDESK_API_H
#define CHATDESK_API_H

#include <stddef.h>
#include <stdint.h>

#include "router.h"

struct app;
struct req;

extern const struct route api_routes[];
extern const size_t api_nroutes;

/*
 * Checks the caller against the route's access level: authenticates the
 * bearer token when one is needed and sets req->user_id. Returns 0, or -1
 * after answering 401, 403 or 404.
 */
int api_check_access(struct app *, struct req *, int access);

/* GET /api/v1/health */
void api_health(struct app *, struct req *, const int64_t *);

#endif

/*
 * metrics: counters shared by every process of the pool and the worker,
 * in a small file mapped MAP_SHARED next to the database (db_path +
 * "-metrics"), updated with atomic adds: no Redis round trip and no lock
 * on the hot path. /metrics renders them in Prometheus text format.
 */
#ifndef CHATDESK_METRICS_H
#define CHATDESK_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "util.h"

struct gcommit;

#define METRICS_ROUTES_MAX	63	/* routes counted apart */

enum metrics_task_result {
	MTASK_DONE,
	MTASK_RETRIED,
	MTASK_DEAD,
	MTASK__MAX
};

/*
 * Maps the shared file for db_path, creating it mode 0660 and, when run
 * as root, giving it to the database file's owner. Returns 0, or -1
 * (logged) and counting goes to process memory: the pool refuses to start
 * then (app_open), since its /metrics would show one process only.
 */
int metrics_open(const char *db_path);
void metrics_close(void);
/* 1 if the counters are the shared file's, 0 if process memory. */
int metrics_shared(void);
/* The group commit's state in the shared page (process memory until
 * metrics_open succeeds). */
struct gcommit *metrics_gcommit(void);

/* A pool process takes a slot at start-up and leaves it at exit;
 * metrics_busy(1) and (0) frame each request. They feed the busy/idle
 * gauges and the max-reached counter. */
void metrics_pool_join(void);
void metrics_pool_leave(void);
void metrics_busy(int busy);
/* The pids of live pool processes (up to max); returns how many. */
size_t metrics_pool_pids(long *pids, size_t max);
/* A request slower than slow_request_ms. */
void metrics_slow_request(void);

/* One finished request: route index in the route table (-1: none). */
void metrics_request(int route, int status, int64_t micros);
/* A cache read of the key family (one of the first KEY_CACHE__MAX)
 * with result 0 hit, 1 miss, 2 bypass. */
void metrics_cache(enum key_family, int result);
/* A cached value of the family that failed its MAC (cache.h, seals). */
void metrics_cache_forged(enum key_family);
void metrics_redis_error(void);
void metrics_ratelimit_rejection(void);
/* A post let through because Redis could not count it. */
void metrics_ratelimit_unenforced(void);
/* A finished task of type (enum task_type; -1: unknown). */
void metrics_task(int type, enum metrics_task_result);
void metrics_dead_dropped(uint64_t n);

/*
 * A generation shared by every process, bumped when a cache invalidation
 * could not reach Redis and was kept for replay. A process that sees it
 * move replays before it reads the cache again (cache_sync), so a key
 * that one process failed to delete is not served by another whose Redis
 * connection survived.
 */
uint64_t metrics_pending_gen(void);
void metrics_pending_bump(void);

/*
 * A second shared generation, bumped after every change that makes a
 * session stale (a revoked token, a changed role): each process keeps
 * recently used sessions in memory only while it has not moved.
 */
uint64_t metrics_session_gen(void);
void metrics_session_bump(void);

/* Live events (API.md section 8): a publish to Nchan (ok 1) or a failed
 * one (ok 0); a subscription handed to Nchan; one refused. */
void metrics_event_publish(int ok);
void metrics_event_subscription(void);
void metrics_event_refusal(void);

/* The app's own cache hits and misses, summed over processes. */
void metrics_cache_totals(uint64_t *hits, uint64_t *misses);

/* The labels of a route, by its index in the route table. */
struct metrics_label {
	const char	*route;
	const char	*method;
};

/* Hands in the labels of the request counters, routes[0..n) (n <=
 * METRICS_ROUTES_MAX), kept for the process' life: the dispatcher does
 * it at start-up, so that metrics needs no route table. */
void metrics_routes(const struct metrics_label *routes, size_t n);

/* Appends the Prometheus text of the counters to out. Gauges read
 * elsewhere (the queue's) are the caller's to append. */
void metrics_render(struct strbuf *out);

#endif

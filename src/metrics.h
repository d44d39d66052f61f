/*
 * metrics: counters shared by every process of the pool and the worker,
 * in a small file mapped MAP_SHARED next to the database (db_path +
 * "-metrics"), updated with atomic adds: no Redis round trip and no lock
 * on the hot path. /metrics renders them in Prometheus text format.
 */
#ifndef CHATDESK_METRICS_H
#define CHATDESK_METRICS_H

#include <stdint.h>

#include "util.h"

struct app;
struct route;

enum metrics_cache_family {
	MFAM_MESSAGES,
	MFAM_USER,
	MFAM_TICKET,
	MFAM_SESSION,
	MFAM_STATS,
	MFAM__MAX
};

enum metrics_task_result {
	MTASK_DONE,
	MTASK_RETRIED,
	MTASK_DEAD,
	MTASK__MAX
};

/* Maps the shared file for db_path. Without it (an unwritable
 * directory), counting goes to process memory: logged, never fatal. */
void metrics_open(const char *db_path);
void metrics_close(void);

/* One finished request: route index in api_routes (-1: no route). */
void metrics_request(int route, int status, int64_t micros);
/* A cache read of the family with result 0 hit, 1 miss, 2 bypass. */
void metrics_cache(enum metrics_cache_family, int result);
/* The family of a key name (without prefix), or -1. */
int metrics_family_of(const char *name);
void metrics_redis_error(void);
void metrics_ratelimit_rejection(void);
/* A post let through because Redis could not count it. */
void metrics_ratelimit_unenforced(void);
void metrics_task(const char *type, enum metrics_task_result);
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

/* Writes the Prometheus text into out; queue lengths are read live. */
void metrics_render(struct app *, struct strbuf *out);

#endif

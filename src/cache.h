/*
 * cache: cache-aside over Redis (API.md section 4). A read that misses
 * takes a short lease (lease:<key>) before it reads SQLite and stores the
 * value only if the lease is still its own, atomically in Redis; a writer
 * commits, then deletes the key and its lease. So a fill never stores a
 * value older than a committed write, and a burst of misses on one key
 * reads SQLite once. Invalidations that fail while Redis is down are kept
 * in SQLite and replayed on reconnect, before the cache is read again.
 */
#ifndef CHATDESK_CACHE_H
#define CHATDESK_CACHE_H

#include "app.h"
#include "util.h"

#define CACHE_LEASE_MS		3000	/* a fill's lease lives this long */
#define CACHE_WAIT_TRIES	10	/* a reader without the lease polls */
#define CACHE_WAIT_US		5000	/* ... this often, then reads SQLite */

enum cache_result {
	CACHE_HIT,
	CACHE_MISS,
	CACHE_BYPASS
};

/* "HIT", "MISS" or "BYPASS", for X-Cache. */
const char *cache_result_name(enum cache_result);

/*
 * Reads the source of record: writes the value into out and returns 0,
 * returns 1 if there is no such record, or -1 on error.
 */
typedef int (*cache_fill_fn)(struct app *, void *arg, struct strbuf *out);

/*
 * Cache-aside read of key (built with app_key). On a hit the cached text
 * is copied into out; otherwise fill() is called and, if this reader holds
 * the lease, its value is stored with a jittered ttl (seconds). Returns
 * what fill returns (0 found, 1 none, -1 error) and sets *res.
 */
int cache_get(struct app *, const struct rkey *key, long long ttl,
    cache_fill_fn fill, void *arg, struct strbuf *out,
    enum cache_result *res);

/*
 * Deletes the keys (and their leases) after a committed write. If Redis
 * does not answer, the keys are remembered in SQLite and deleted when it
 * returns. Returns 0, or -1 if they had to be remembered.
 */
int cache_invalidate(struct app *, const struct rkey *keys, int n);

/*
 * Deletes every key matching pattern (a SCAN glob, written without the
 * prefix: "stats:user:5:*") and its leases; remembered for replay if Redis
 * does not answer. Returns 0 or -1.
 */
int cache_invalidate_pattern(struct app *, const char *pattern);
/* SCAN + UNLINK of prefix + pattern only. Returns the count, or -1. */
long long cache_delete_pattern(struct app *, const char *pattern);

/* Replays remembered invalidations; installed as the rconn on-connect
 * hook of the cache connection by app_open. */
void cache_replay(void *app);

/*
 * Called before reading the cache: if any process remembered an
 * invalidation since this one last looked, replays them first. Returns 0,
 * or -1 if they could not be replayed (the caller must not read the cache).
 */
int cache_sync(struct app *);

/* ttl reduced by a random 0..10 %, so keys filled together do not expire
 * together. */
long long cache_jitter(long long ttl);

#endif

/* cache_int: what cache.c and cache_list.c share, and nothing else sees. */
#ifndef CHATDESK_CACHE_INT_H
#define CHATDESK_CACHE_INT_H

#include "cache.h"

#define CACHE_TOKEN_LEN	24	/* hex of 12 random bytes */

enum cache_ahead {
	CACHE_AHEAD_GET,	/* GET key: a record (cache_get) */
	CACHE_AHEAD_LINDEX	/* LINDEX key 0: a list's head (cache_list) */
};

struct cache {
	struct rconn		*rc;
	const struct config	*cfg;
	struct db		*db;
	struct keyspace		 ks;
	/* The pending-invalidation generation this process has replayed. */
	uint64_t		 pending_gen;
	/* The secret of the seals (cache.h); keyed 0: none, never read. */
	struct cache_mac	 mac;
	int			 keyed;
	struct strbuf		 sealed;	/* a value being stored */
	int64_t			 forged_logged_us;	/* last log line of one */
	/* cache_get_ahead, cache_list_ahead: a read to send with the next
	 * plain GET (queued), then its reply until the read takes it. */
	struct rkey		 ahead;
	enum cache_ahead	 ahead_kind;
	int			 ahead_queued;
	struct redisReply	*ahead_reply;
};

/* The reply of the read of key sent ahead in this request, now the
 * caller's, or NULL (none, or of another key or kind). */
struct redisReply *cache_ahead_take(struct cache *, const struct rkey *key,
    enum cache_ahead kind);
/* Queues a read ahead (the one queued before is dropped). */
void cache_ahead_queue(struct cache *, const struct rkey *key,
    enum cache_ahead kind);

/* Reads key into the reader's state: 1 hit, 0 miss, -1 Redis unusable. */
typedef int (*cache_read_fn)(struct cache *, const struct rkey *key,
    void *ctx);

/*
 * The lease protocol's read side, for every kind of value: syncs, reads,
 * and on a miss takes the lease or waits for the reader that holds it.
 * Returns 1 hit, 0 miss with the lease ours (token holds it), 2 miss
 * without it, -1 Redis unusable.
 */
int cache_lease_read(struct cache *, const struct rkey *key,
    const struct rkey *lease, char token[CACHE_TOKEN_LEN + 1],
    cache_read_fn read, void *ctx);

/* Sleeps debug_fill_delay_ms before a store, when set (tests). */
void cache_fill_delay(const struct cache *);

#endif

/*
 * cache: cache-aside over Redis (API.md section 4), and with the queue
 * the only module that speaks Redis (through rconn). struct cache is its
 * handle, made by app_open: the connection of redis_url, the key prefix,
 * the Lua scripts, and the generation of remembered invalidations this
 * process has replayed.
 *
 * One lease protocol for every cached value, records and the room list
 * alike (cache_list.c): a read that misses takes a short lease
 * (lease:<key>) before it reads SQLite, and stores the value only if the
 * lease is still its own, atomically in Redis; a writer commits, then
 * deletes the key and its lease. So a fill never stores a value older than
 * a committed write, and a burst of misses on one key reads SQLite once.
 * Invalidations that fail while Redis is down are kept in SQLite and
 * replayed on reconnect, before the cache is read again.
 */
#ifndef CHATDESK_CACHE_H
#define CHATDESK_CACHE_H

#include <stdint.h>

#include <sodium.h>

#include "keys.h"
#include "util.h"

struct config;
struct db;
struct rconn;

#define CACHE_LEASE_MS		3000	/* a fill's lease lives this long */
#define CACHE_WAIT_TRIES	10	/* a reader without the lease polls */
#define CACHE_WAIT_US		5000	/* ... this often, then reads SQLite */
#define CACHE_PAGE_MAX		100	/* items in a cached list */

struct cache;

#define CACHE_MAC_KEY_LEN	32	/* crypto_auth_KEYBYTES */

/* A cache over rc (whose reference it takes), its keys under ks (copied);
 * db keeps invalidations that could not be sent. cfg and db outlive the
 * cache. mac_key (copied) authenticates every value cache_get stores and
 * reads; without one (NULL: a database not yet migrated) cache_get never
 * reads or stores: every read is a BYPASS. */
struct cache *cache_open(const struct config *cfg, struct db *db,
    struct rconn *rc, const struct keyspace *ks,
    const unsigned char *mac_key);
void cache_close(struct cache *);

/* The prefix keys are built under (keys.h). */
const struct keyspace *cache_keys(const struct cache *);

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
typedef int (*cache_fill_fn)(void *arg, struct strbuf *out);

/*
 * Cache-aside read of key. On a hit the cached text is copied into out;
 * otherwise fill() is called and, if this reader holds the lease, its
 * value is stored with a jittered ttl (seconds). Returns what fill
 * returns (0 found, 1 none, -1 error) and sets *res.
 */
int cache_get(struct cache *, const struct rkey *key, long long ttl,
    cache_fill_fn fill, void *arg, struct strbuf *out,
    enum cache_result *res);

/*
 * The seal on every value cache_get keeps (API.md section 4: Redis is not
 * trusted with identity). In Redis a value is
 *
 *	<mac: 64 hex><gen: 16 hex><exp: 16 hex>|<value>
 *
 * mac is HMAC-SHA-512-256 (libsodium's crypto_auth) under the app's
 * secret over the full key name, a NUL byte, and everything after the mac:
 * a value moved to another key, edited, or made up fails. exp (Unix
 * seconds) is when the value stops being good even if Redis still holds
 * it, so a value copied earlier cannot be put back later than its TTL.
 * gen is the shared session generation the value was read under (sessions
 * only, else 0): a revocation or a role change moves it, so a session
 * value saved before it and put back is stale at once.
 */
#define CACHE_SEAL_LEN		97
/* The secret, keyed into HMAC's state once: each seal then costs the
 * hashing of its own bytes only (a third less than keying every time). */
struct cache_mac {
	crypto_auth_hmacsha512256_state	 st;
};
void cache_mac_init(struct cache_mac *, const unsigned char *mac_key);
enum cache_seal {
	CACHE_SEAL_OK,
	CACHE_SEAL_STALE,	/* genuine, but expired or of an older gen */
	CACHE_SEAL_FORGED	/* not made with our secret for this key */
};
/* Writes the sealed value into out (reset first). */
void cache_seal(const struct cache_mac *, const struct rkey *key,
    uint64_t gen, int64_t exp, const char *val, size_t len,
    struct strbuf *out);
/* Checks a sealed value read from key at time now (Unix seconds) against
 * the generation expected; on CACHE_SEAL_OK *val, *vlen are the value
 * inside sealed. */
enum cache_seal cache_unseal(const struct cache_mac *,
    const struct rkey *key, uint64_t gen, int64_t now, const char *sealed,
    size_t len, const char **val, size_t *vlen);

/*
 * Deletes the keys (and their leases) after a committed write. If Redis
 * does not answer, the keys are remembered in SQLite and deleted when it
 * returns. Returns 0, or -1 if they had to be remembered.
 */
int cache_invalidate(struct cache *, const struct rkey *keys, int n);

/*
 * Deletes every key matching glob (keys_glob) and their leases;
 * remembered for replay if Redis does not answer. Returns 0 or -1.
 */
int cache_invalidate_glob(struct cache *, const struct rkey *glob);
/* SCAN + UNLINK of the glob only. Returns the count, or -1. */
long long cache_delete_glob(struct cache *, const struct rkey *glob);
/* UNLINK of one key. Returns 1, 0, or -1 if Redis is down. */
long long cache_unlink(struct cache *, const struct rkey *key);

/* Replays remembered invalidations; installed by cache_open as the
 * on-connect hook of its connection (the struct cache is the argument). */
void cache_replay(void *cache);

/*
 * Called before reading the cache: if any process remembered an
 * invalidation since this one last looked, replays them first. Returns 0,
 * or -1 if they could not be replayed (the caller must not read the cache).
 */
int cache_sync(struct cache *);

/* ttl reduced by a random 0..10 %, so keys filled together do not expire
 * together. */
long long cache_jitter(long long ttl);

/*
 * Counts one event in key (INCR; on the first, EXPIRE ttl seconds), one
 * atomic round trip: the rate limit's counter. Returns the count, or -1
 * if Redis did not answer.
 */
long long cache_count(struct cache *, const struct rkey *key, long long ttl);

/* 1 if the cache's Redis answers PING, else 0. */
int cache_ping(struct cache *);

/* The server's figures for GET /api/v1/cache/stats (INFO, DBSIZE). */
struct cache_server {
	int		connected;
	long long	keys, keyspace_hits, keyspace_misses, evicted_keys,
			used_memory;
};
void cache_server_stats(struct cache *, struct cache_server *);

/*
 * The lease decisions, apart so they can be tested without a server. A
 * reader reads; on a miss it tries to take the lease: 1 ours, 0 another
 * reader's, 2 the value appeared meanwhile, -1 Redis unusable.
 */
enum cache_step {
	CACHE_STEP_SERVE,	/* a hit: answer it */
	CACHE_STEP_BYPASS,	/* Redis unusable: read SQLite, store nothing */
	CACHE_STEP_LEASE,	/* a miss: try to take the lease */
	CACHE_STEP_FILL,	/* the lease is ours: read SQLite and store */
	CACHE_STEP_WAIT,	/* another reader fills: pause, read again */
	CACHE_STEP_READ,	/* the value appeared: read again at once */
	CACHE_STEP_GIVE_UP	/* waited enough: read SQLite, store nothing */
};
/* After a read that returned got (1 hit, 0 miss, -1 down). */
enum cache_step cache_after_read(int got);
/* After the tries-th (from 0) attempt at the lease returned lease. */
enum cache_step cache_after_lease(int lease, int tries);

/*
 * The room list messages:room:{id} (cache_list.c): the newest
 * room_cache_size messages, newest first. Its invariant and the races it
 * closes are described there.
 */

/* A page of items as JSON texts joined by ',' in text; item i is at
 * offs[i], lens[i] long, with id ids[i]. */
struct cache_page {
	struct strbuf	 text;
	int		 n;
	int64_t		 ids[CACHE_PAGE_MAX];
	size_t		 offs[CACHE_PAGE_MAX];
	size_t		 lens[CACHE_PAGE_MAX];
};

/* Starts item id: its text is to be appended to p->text; then
 * cache_page_end. Returns -1 if the page is full. */
int cache_page_begin(struct cache_page *, int64_t id);
void cache_page_end(struct cache_page *);

/* Reads a page from the source of record: the items before `before`
 * (0: the newest), at most limit, newest first. Returns 0 or -1. */
typedef int (*cache_page_fn)(void *arg, int64_t before, int limit,
    struct cache_page *);

/*
 * Writes {"<field>":[...],"next_before":...} for a page of list into out:
 * from the list when before is 0 and limit <= room_cache_size (HIT, or
 * MISS and a rebuild through fill), else from fill (BYPASS). Returns 0
 * or -1.
 */
int cache_list_get(struct cache *, const struct rkey *list,
    const char *field, int64_t before, int limit, cache_page_fn fill,
    void *arg, struct strbuf *out, enum cache_result *res);

/*
 * Pushes item id (its text starts {"id":N,) onto list after its commit;
 * prev is the id of the item just before it, read in the same
 * transaction (0: none). If the push fails the list is invalidated.
 */
void cache_list_push(struct cache *, const struct rkey *list, int64_t id,
    int64_t prev, const struct strbuf *item);

/*
 * Reads sent ahead: the dispatcher knows a request's route before it
 * authenticates it, so the route may queue the read its handler will
 * make (cache_get's GET of key; cache_list's LINDEX 0 that validates
 * this process's copy of list), and it goes out with the request's next
 * plain cached read, in practice the session's GET: one round trip for
 * both, as the ceiling makes. The reply waits for the handler's read of
 * that key in the same request; cache_ahead_drop, which the dispatcher
 * calls after every request, frees one never used (the request was
 * refused, or asked for another page). Every invalidation rule holds:
 * the read still happens after the request arrived, so after any 201
 * or 200 its client saw, and a replay of failed deletes (cache_sync)
 * drops a reply read before it.
 */
void cache_get_ahead(struct cache *, const struct rkey *key);
void cache_list_ahead(struct cache *, const struct rkey *list);
void cache_ahead_drop(struct cache *);

/*
 * The catch-up read (API.md section 8): writes
 * {"<field>":[...],"next_after":...}, the items newer than after, oldest
 * first, at most limit. From the list when it reaches back to after
 * (HIT), else from fill, called with after in place of before and
 * answering oldest first (BYPASS). Returns 0 or -1.
 */
int cache_list_after(struct cache *, const struct rkey *list,
    const char *field, int64_t after, int limit, cache_page_fn fill,
    void *arg, struct strbuf *out, enum cache_result *res);

/*
 * The one page-answer builder: {"<field>":[items],"<next>":N} and a
 * newline, next being "next_before" or "next_after"; N is null unless
 * more is set.
 */
void cache_page_answer(struct strbuf *out, const char *field,
    const char *next, const char *items, size_t len, int more,
    int64_t last_id);

#endif

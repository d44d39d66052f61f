/*
 * cache_events: the Redis state of live events (API.md section 8).
 *
 *  - events:ticket:{sha256 hex of the ticket}: one event ticket, a string
 *    of 43 bytes that holds the issuing bearer token masked with a pad
 *    derived from the ticket itself (api_events.c). Redis never sees the
 *    ticket or the token: whoever reads it learns neither, whoever writes
 *    it cannot make one that unmasks to a live token. SET EX 60, taken
 *    with GETDEL: single use.
 *  - presence:room:{id}: a sorted set of "{user_id}:{subscription id}",
 *    scored by the Unix ms at which the entry expires (a subscription
 *    lasts at most events_recheck_s; the expiry is a little longer, so a
 *    crashed nginx cannot leave anyone online for ever);
 *    presence:room:{id}:users: a hash user_id -> number of live entries,
 *    kept with it in the same scripts, so that "was this user online" is
 *    one HINCRBY, not a walk of the set.
 */
#ifndef CHATDESK_CACHE_EVENTS_H
#define CHATDESK_CACHE_EVENTS_H

#include <stddef.h>
#include <stdint.h>

struct cache;

#define CACHE_EVENTS_TICKET_LEN	43	/* a masked token */

/* The ticket named by hash (its SHA-256). Stores a ticket's value for ttl seconds. Returns 0, or -1 if Redis is
 * down. */
int cache_events_ticket_put(struct cache *, const unsigned char hash[32],
    const unsigned char val[CACHE_EVENTS_TICKET_LEN], int ttl);
/* Takes (reads and deletes, atomically) a ticket's value. Returns 1 with
 * val filled, 0 if there is none (unknown, used or expired), -1 if Redis
 * is down. */
int cache_events_ticket_take(struct cache *, const unsigned char hash[32],
    unsigned char val[CACHE_EVENTS_TICKET_LEN]);

/*
 * Records the subscription sid of user in each of the n rooms, live
 * until expires_ms (Unix ms). first[i] is set to 1 where the user had no
 * live subscription to rooms[i] before (it just came online). Expired
 * entries are swept on the way. Returns 0, or -1 if Redis is down.
 */
int cache_events_presence_join(struct cache *, int64_t user, const char *sid,
    const int64_t *rooms, int n, int64_t expires_ms, int *first);
/* Removes it again; last[i] is set to 1 where that was the user's last
 * live subscription to rooms[i] (it went offline). Returns 0 or -1. */
int cache_events_presence_leave(struct cache *, int64_t user, const char *sid,
    const int64_t *rooms, int n, int *last);
/* The users with a live subscription to room, ascending, at most max.
 * Returns the count, or -1 if Redis is down. */
int cache_events_presence_list(struct cache *, int64_t room, int64_t *users,
    int max);

#endif

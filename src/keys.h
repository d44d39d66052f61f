/*
 * keys: the names of every Redis key the programs use (API.md section 4),
 * one function per family. A key is key_prefix followed by a name made of
 * fixed text and numbers (or a hash), never client text. Each key carries
 * its family, so nothing parses key names back (metrics, leases).
 *
 * key_prefix is at most KEYS_PREFIX_MAX bytes, checked when the
 * configuration is loaded; with that, every name fits and a key is never
 * cut or left without its prefix. A builder that would overflow aborts:
 * it is a programming error, not a run-time condition.
 */
#ifndef CHATDESK_KEYS_H
#define CHATDESK_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define KEYS_PREFIX_MAX	64	/* key_prefix, in bytes */
#define KEYS_GEN_MAX	32	/* a database generation, in bytes */
/* The cache families' prefix: key_prefix, then "g{generation}:". */
#define KEYS_CPREFIX_MAX	(KEYS_PREFIX_MAX + KEYS_GEN_MAX + 2)
#define KEYS_NAME_MAX	160	/* a name behind the prefix, lease: included */
#define KEYS_LEASE_LEN	6	/* "lease:" */

/*
 * The families. The cache families come first, in the order of the
 * shared metrics file; KEY_CACHE__MAX counts them.
 */
enum key_family {
	KEY_MESSAGES,		/* messages:room:{room}, a list */
	KEY_USER,		/* user:{id} */
	KEY_TICKET,		/* ticket:{id} */
	KEY_SESSION,		/* session:{sha256 hex} */
	KEY_STATS,		/* stats:user:{id}:days:{days} */
	KEY_CACHE__MAX,
	KEY_LEASE = KEY_CACHE__MAX,	/* lease:{name of a cache key} */
	KEY_RATELIMIT,		/* ratelimit:{user}:{window},
				 * ratelimit:typing:{user}:{window},
				 * ratelimit:signin:... */
	KEY_TASKS,		/* tasks:pending|processing|delayed|failed */
	KEY_WORKER_LOCK,	/* worker:lock */
	KEY_QUEUE_STATE,	/* queue:state, a hash: epoch, seq */
	KEY_EVENT_TICKET,	/* events:ticket:{sha256 hex} */
	KEY_PRESENCE,		/* presence:room:{room}[:users] */
	KEY__MAX
};

/* A family's label (metrics, DESIGN.md) and the text its names start
 * with; cache is 1 for the families an operator may invalidate. */
struct key_family_info {
	const char	*label;
	const char	*stem;
	int		 cache;
};
extern const struct key_family_info keys_families[KEY__MAX];

/* The queue's lists (KEY_TASKS). */
enum key_tasks {
	KEY_TASKS_PENDING,
	KEY_TASKS_PROCESSING,
	KEY_TASKS_DELAYED,
	KEY_TASKS_FAILED,
	KEY_TASKS__MAX
};

/*
 * A checked prefix. The cache families (keys_families[].cache) are named
 * under cprefix: the prefix, then "g{generation}:" once the database has
 * a generation (set by chatdeskctl restore), so that entries cached for
 * the database before a restore are never read after it. The queue, the
 * worker lock and the rate limits stay under the plain prefix: they are
 * not copies of rows.
 */
struct keyspace {
	char	prefix[KEYS_PREFIX_MAX + 1];
	size_t	len;
	char	cprefix[KEYS_CPREFIX_MAX + 1];
	size_t	clen;
};

/* Sets ks to prefix, with no generation. Returns 0, or -1 with a reason
 * in err if the prefix is longer than KEYS_PREFIX_MAX. */
int keys_init(struct keyspace *ks, const char *prefix, char *err,
    size_t errsz);
/* Sets the generation ("" for none): at most KEYS_GEN_MAX bytes of
 * [0-9a-z]. Returns 0, or -1 with a reason in err. */
int keys_set_generation(struct keyspace *ks, const char *gen, char *err,
    size_t errsz);

/* One key: s[0..len), the prefix in s[0..plen) (a glob's prefix is
 * escaped, so up to twice as long). */
struct rkey {
	char		 s[2 * KEYS_CPREFIX_MAX + KEYS_NAME_MAX + 1];
	size_t		 len;
	size_t		 plen;
	enum key_family	 fam;
};

void keys_messages(const struct keyspace *, struct rkey *, int64_t room);
void keys_user(const struct keyspace *, struct rkey *, int64_t id);
void keys_ticket(const struct keyspace *, struct rkey *, int64_t id);
void keys_session(const struct keyspace *, struct rkey *,
    const unsigned char hash[32]);
void keys_stats(const struct keyspace *, struct rkey *, int64_t user,
    int days);
void keys_ratelimit(const struct keyspace *, struct rkey *, int64_t user,
    int64_t window);
/* The typing limit's counter: apart from the posts', same family. */
void keys_ratelimit_typing(const struct keyspace *, struct rkey *,
    int64_t user, int64_t window);
/* A single-use event ticket, named by the hex of its SHA-256. */
void keys_event_ticket(const struct keyspace *, struct rkey *,
    const unsigned char hash[32]);
/* A room's presence: the sorted set of live subscriptions (users 0) and
 * the hash of users online (users 1), kept together. */
void keys_presence(const struct keyspace *, struct rkey *, int64_t room,
    int users);
/* Sign-in attempts (issue 15), KEY_RATELIMIT too:
 * ratelimit:signin:email|addr:{sha256 hex}:{window}. */
enum keys_signin_by {
	KEYS_SIGNIN_EMAIL,
	KEYS_SIGNIN_ADDR
};
void keys_signin(const struct keyspace *, struct rkey *, enum keys_signin_by,
    const unsigned char hash[32], int64_t window);
void keys_tasks(const struct keyspace *, struct rkey *, enum key_tasks);
void keys_worker_lock(const struct keyspace *, struct rkey *);
void keys_queue_state(const struct keyspace *, struct rkey *);
/* The lease of a cache key (or of a glob of them): lease: before its
 * name, same prefix. */
void keys_lease(const struct rkey *of, struct rkey *lease);

/*
 * A SCAN glob: the prefix with glob characters escaped, then pattern (a
 * name glob such as "stats:user:5:days:*"). Returns 0, or -1 if the
 * pattern is longer than KEYS_NAME_MAX - KEYS_LEASE_LEN (its lease must
 * fit too).
 */
int keys_glob(const struct keyspace *, struct rkey *, enum key_family,
    const char *pattern);
/* The glob of one user's statistics, all day counts. */
void keys_stats_glob(const struct keyspace *, struct rkey *, int64_t user);

/*
 * A key named by an operator (POST /api/v1/cache/invalidate), already
 * checked with keys_cache_name_ok. Returns 0, or -1 if longer than
 * KEYS_NAME_MAX - KEYS_LEASE_LEN.
 */
int keys_named(const struct keyspace *, struct rkey *, const char *name);
/* 1 if name (without prefix) starts with the stem of a cache family,
 * lease: included, and holds only the characters of our key names
 * (a-z, 0-9, ':', and '*' when pattern is set); else 0. */
int keys_cache_name_ok(const char *name, int pattern);

/* A key read back from storage (the pending invalidations hold whole
 * keys, prefix included, under the current prefix). Returns 0, or -1 if
 * it (or its lease) would not fit. */
int keys_stored(const struct keyspace *, struct rkey *, const char *text);

#endif

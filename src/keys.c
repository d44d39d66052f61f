/* keys: see keys.h. */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "util.h"

const struct key_family_info keys_families[KEY__MAX] = {
	[KEY_MESSAGES] = { "messages", "messages:room:", 1 },
	[KEY_USER] = { "user", "user:", 1 },
	[KEY_TICKET] = { "ticket", "ticket:", 1 },
	[KEY_SESSION] = { "session", "session:", 1 },
	[KEY_STATS] = { "stats", "stats:user:", 1 },
	[KEY_LEASE] = { "lease", "lease:", 1 },
	[KEY_RATELIMIT] = { "ratelimit", "ratelimit:", 0 },
	[KEY_TASKS] = { "tasks", "tasks:", 0 },
	[KEY_WORKER_LOCK] = { "worker", "worker:lock", 0 },
	[KEY_EVENT_TICKET] = { "event_ticket", "events:ticket:", 0 },
	[KEY_PRESENCE] = { "presence", "presence:room:", 0 },
	[KEY_QUEUE_STATE] = { "queue", "queue:state", 0 },
};

static const char *const task_lists[KEY_TASKS__MAX] = {
	[KEY_TASKS_PENDING] = "tasks:pending",
	[KEY_TASKS_PROCESSING] = "tasks:processing",
	[KEY_TASKS_DELAYED] = "tasks:delayed",
	[KEY_TASKS_FAILED] = "tasks:failed",
};

int
keys_init(struct keyspace *ks, const char *prefix, char *err, size_t errsz)
{
	size_t n = strlen(prefix);

	if (n > KEYS_PREFIX_MAX) {
		snprintf(err, errsz, "key_prefix: at most %d bytes (%zu given)",
		    KEYS_PREFIX_MAX, n);
		return -1;
	}
	memcpy(ks->prefix, prefix, n + 1);
	ks->len = n;
	memcpy(ks->cprefix, prefix, n + 1);
	ks->clen = n;
	return 0;
}

int
keys_set_generation(struct keyspace *ks, const char *gen, char *err,
    size_t errsz)
{
	size_t n = strlen(gen), i;

	if (n > KEYS_GEN_MAX) {
		snprintf(err, errsz, "generation: at most %d bytes", KEYS_GEN_MAX);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (!((gen[i] >= '0' && gen[i] <= '9') ||
		    (gen[i] >= 'a' && gen[i] <= 'z'))) {
			snprintf(err, errsz, "generation: only 0-9 and a-z");
			return -1;
		}
	if (n == 0)
		snprintf(ks->cprefix, sizeof(ks->cprefix), "%s", ks->prefix);
	else
		snprintf(ks->cprefix, sizeof(ks->cprefix), "%sg%s:", ks->prefix,
		    gen);
	ks->clen = strlen(ks->cprefix);
	return 0;
}

/* The prefix of a family's keys: cprefix for the cache families (and
 * for KEY__MAX, the operator's names, always of a cache family). */
static void
family_prefix(const struct keyspace *ks, enum key_family fam,
    const char **p, size_t *len)
{
	if (fam < KEY__MAX && !keys_families[fam].cache) {
		*p = ks->prefix;
		*len = ks->len;
	} else {
		*p = ks->cprefix;
		*len = ks->clen;
	}
}

/* prefix + formatted name. A name that does not fit is a bug: the
 * prefix is bounded at start-up and every name by its format. */
static void __attribute__((format(printf, 4, 5)))
key_build(const struct keyspace *ks, struct rkey *k, enum key_family fam,
    const char *fmt, ...)
{
	va_list ap;
	const char *p;
	size_t plen;
	int n;

	family_prefix(ks, fam, &p, &plen);
	memcpy(k->s, p, plen);
	va_start(ap, fmt);
	n = vsnprintf(k->s + plen, sizeof(k->s) - plen, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n > KEYS_NAME_MAX ||
	    plen + (size_t)n >= sizeof(k->s)) {
		log_error("keys: a %s key does not fit", keys_families[fam].label);
		abort();
	}
	k->plen = plen;
	k->len = plen + (size_t)n;
	k->fam = fam;
}

void
keys_messages(const struct keyspace *ks, struct rkey *k, int64_t room)
{
	key_build(ks, k, KEY_MESSAGES, "messages:room:%lld", (long long)room);
}

void
keys_user(const struct keyspace *ks, struct rkey *k, int64_t id)
{
	key_build(ks, k, KEY_USER, "user:%lld", (long long)id);
}

void
keys_ticket(const struct keyspace *ks, struct rkey *k, int64_t id)
{
	key_build(ks, k, KEY_TICKET, "ticket:%lld", (long long)id);
}

/* stem + the hex of a SHA-256: the names that stand for a secret. */
static void
key_hash(const struct keyspace *ks, struct rkey *k, enum key_family fam,
    const char *stem, const unsigned char hash[32])
{
	char hex[65];

	util_hex(hash, 32, hex);
	key_build(ks, k, fam, "%s%s", stem, hex);
}

void
keys_session(const struct keyspace *ks, struct rkey *k,
    const unsigned char hash[32])
{
	key_hash(ks, k, KEY_SESSION, "session:", hash);
}

void
keys_stats(const struct keyspace *ks, struct rkey *k, int64_t user, int days)
{
	key_build(ks, k, KEY_STATS, "stats:user:%lld:days:%d", (long long)user,
	    days);
}

void
keys_ratelimit(const struct keyspace *ks, struct rkey *k, int64_t user,
    int64_t window)
{
	key_build(ks, k, KEY_RATELIMIT, "ratelimit:%lld:%lld",
	    (long long)user, (long long)window);
}

void
keys_ratelimit_typing(const struct keyspace *ks, struct rkey *k,
    int64_t user, int64_t window)
{
	key_build(ks, k, KEY_RATELIMIT, "ratelimit:typing:%lld:%lld",
	    (long long)user, (long long)window);
}

void
keys_event_ticket(const struct keyspace *ks, struct rkey *k,
    const unsigned char hash[32])
{
	key_hash(ks, k, KEY_EVENT_TICKET, "events:ticket:", hash);
}

void
keys_presence(const struct keyspace *ks, struct rkey *k, int64_t room,
    int users)
{
	key_build(ks, k, KEY_PRESENCE, "presence:room:%lld%s",
	    (long long)room, users ? ":users" : "");
}

void
keys_signin(const struct keyspace *ks, struct rkey *k, enum keys_signin_by by,
    const unsigned char hash[32], int64_t window)
{
	char hex[65];

	util_hex(hash, 32, hex);
	key_build(ks, k, KEY_RATELIMIT, "ratelimit:signin:%s:%s:%lld",
	    by == KEYS_SIGNIN_ADDR ? "addr" : "email", hex, (long long)window);
}

void
keys_tasks(const struct keyspace *ks, struct rkey *k, enum key_tasks which)
{
	key_build(ks, k, KEY_TASKS, "%s", task_lists[which]);
}

void
keys_worker_lock(const struct keyspace *ks, struct rkey *k)
{
	key_build(ks, k, KEY_WORKER_LOCK, "worker:lock");
}

void
keys_queue_state(const struct keyspace *ks, struct rkey *k)
{
	key_build(ks, k, KEY_QUEUE_STATE, "queue:state");
}

void
keys_lease(const struct rkey *of, struct rkey *lease)
{
	size_t name = of->len - of->plen;

	if (of->len + KEYS_LEASE_LEN >= sizeof(lease->s)) {
		log_error("keys: a lease key does not fit");
		abort();
	}
	memcpy(lease->s, of->s, of->plen);
	memcpy(lease->s + of->plen, "lease:", 6);
	memcpy(lease->s + of->plen + 6, of->s + of->plen, name);
	lease->plen = of->plen;
	lease->len = of->len + 6;
	lease->s[lease->len] = '\0';
	lease->fam = KEY_LEASE;
}

int
keys_glob(const struct keyspace *ks, struct rkey *k, enum key_family fam,
    const char *pattern)
{
	size_t n = 0, plen = strlen(pattern), i, prlen;
	const char *pr;

	family_prefix(ks, fam, &pr, &prlen);
	/* At most two bytes per prefix byte: always fits. */
	for (i = 0; i < prlen; i++) {
		if (strchr("*?[]\\", pr[i]) != NULL)
			k->s[n++] = '\\';
		k->s[n++] = pr[i];
	}
	if (plen > KEYS_NAME_MAX - KEYS_LEASE_LEN)
		return -1;
	memcpy(k->s + n, pattern, plen + 1);
	k->plen = n;
	k->len = n + plen;
	k->fam = fam;
	return 0;
}

void
keys_stats_glob(const struct keyspace *ks, struct rkey *k, int64_t user)
{
	char pat[64];

	snprintf(pat, sizeof(pat), "stats:user:%lld:days:*", (long long)user);
	if (keys_glob(ks, k, KEY_STATS, pat) == -1)
		abort();
}

int
keys_cache_name_ok(const char *name, int pattern)
{
	const char *p;
	int i, fam = 0;

	for (i = 0; i < KEY__MAX; i++)
		if (keys_families[i].cache && strncmp(name,
		    keys_families[i].stem, strlen(keys_families[i].stem)) == 0)
			fam = 1;
	if (!fam || strlen(name) > 128)
		return 0;
	for (p = name; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == ':' || (pattern && *p == '*')))
			return 0;
	return 1;
}

/* The family whose stem starts name, for operator-given names. */
static enum key_family
family_of(const char *name)
{
	int i;

	for (i = 0; i < KEY__MAX; i++)
		if (strncmp(name, keys_families[i].stem,
		    strlen(keys_families[i].stem)) == 0)
			return (enum key_family)i;
	return KEY_LEASE;
}

int
keys_named(const struct keyspace *ks, struct rkey *k, const char *name)
{
	if (strlen(name) > KEYS_NAME_MAX - KEYS_LEASE_LEN)
		return -1;
	key_build(ks, k, family_of(name), "%s", name);
	return 0;
}

int
keys_stored(const struct keyspace *ks, struct rkey *k, const char *text)
{
	size_t n = strlen(text);

	if (n + KEYS_LEASE_LEN >= sizeof(k->s))
		return -1;
	memcpy(k->s, text, n + 1);
	k->len = n;
	if (n >= ks->clen && memcmp(text, ks->cprefix, ks->clen) == 0)
		k->plen = ks->clen;
	else
		k->plen = n >= ks->len && memcmp(text, ks->prefix, ks->len) ==
		    0 ? ks->len : 0;
	k->fam = KEY__MAX;	/* not known, and not needed to delete it */
	return 0;
}

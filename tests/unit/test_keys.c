/*
 * Unit tests for keys (API.md section 4): every family's name under the
 * longest prefix allowed, the prefix limit (checked when the
 * configuration is loaded, so a key is never cut or left without its
 * prefix), leases, SCAN globs and the names an operator may invalidate.
 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "keys.h"
#include "log.h"

/* A prefix of exactly n bytes. */
static void
prefix_of(char *buf, size_t n)
{
	memset(buf, 'p', n);
	buf[n] = '\0';
}

/* k is prefix then name, with its family and lengths right. */
static void
assert_key(const struct rkey *k, const char *prefix, const char *name,
    enum key_family fam)
{
	size_t plen = strlen(prefix);

	assert_int_equal(k->plen, plen);
	assert_int_equal(k->len, plen + strlen(name));
	assert_int_equal(strlen(k->s), k->len);
	assert_memory_equal(k->s, prefix, plen);
	assert_string_equal(k->s + plen, name);
	assert_int_equal(k->fam, fam);
}

static void
test_prefix_limit(void **state)
{
	struct keyspace ks;
	char p[KEYS_PREFIX_MAX + 2], err[128];

	(void)state;
	prefix_of(p, 0);
	assert_int_equal(keys_init(&ks, p, err, sizeof(err)), 0);
	assert_int_equal(ks.len, 0);
	prefix_of(p, KEYS_PREFIX_MAX);
	assert_int_equal(keys_init(&ks, p, err, sizeof(err)), 0);
	assert_int_equal(ks.len, KEYS_PREFIX_MAX);
	assert_string_equal(ks.prefix, p);
	prefix_of(p, KEYS_PREFIX_MAX + 1);
	assert_int_equal(keys_init(&ks, p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "key_prefix"));
}

/* config_load refuses the prefix that keys_init would: a process never
 * starts with one that does not fit. */
static void
test_prefix_config(void **state)
{
	struct config cfg;
	char p[KEYS_PREFIX_MAX + 2], err[CONFIG_ERRLEN];

	(void)state;
	unsetenv("CHATDESK_CONFIG");
	prefix_of(p, KEYS_PREFIX_MAX);
	setenv("CHATDESK_KEY_PREFIX", p, 1);
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), 0);
	assert_string_equal(cfg.key_prefix, p);
	config_free(&cfg);
	prefix_of(p, KEYS_PREFIX_MAX + 1);
	setenv("CHATDESK_KEY_PREFIX", p, 1);
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(config_load(&cfg, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "key_prefix"));
	unsetenv("CHATDESK_KEY_PREFIX");
}

/* Each family, with the largest numbers, under the longest prefix. */
static void
test_families(void **state)
{
	struct keyspace ks;
	struct rkey k;
	unsigned char hash[32];
	char p[KEYS_PREFIX_MAX + 1], err[128], name[128];
	size_t i;

	(void)state;
	prefix_of(p, KEYS_PREFIX_MAX);
	assert_int_equal(keys_init(&ks, p, err, sizeof(err)), 0);
	keys_messages(&ks, &k, INT64_MAX);
	assert_key(&k, p, "messages:room:9223372036854775807", KEY_MESSAGES);
	keys_user(&ks, &k, 7);
	assert_key(&k, p, "user:7", KEY_USER);
	keys_ticket(&ks, &k, INT64_MAX);
	assert_key(&k, p, "ticket:9223372036854775807", KEY_TICKET);
	for (i = 0; i < sizeof(hash); i++)
		hash[i] = (unsigned char)(0xa0 + i);
	keys_session(&ks, &k, hash);
	assert_key(&k, p, "session:a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
	    "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf", KEY_SESSION);
	keys_stats(&ks, &k, INT64_MAX, 365);
	assert_key(&k, p, "stats:user:9223372036854775807:days:365", KEY_STATS);
	keys_ratelimit(&ks, &k, INT64_MAX, INT64_MAX);
	assert_key(&k, p, "ratelimit:9223372036854775807:9223372036854775807",
	    KEY_RATELIMIT);
	keys_ratelimit_typing(&ks, &k, INT64_MAX, INT64_MAX);
	assert_key(&k, p, "ratelimit:typing:9223372036854775807:"
	    "9223372036854775807", KEY_RATELIMIT);
	keys_event_ticket(&ks, &k, hash);
	assert_key(&k, p, "events:ticket:a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
	    "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf", KEY_EVENT_TICKET);
	keys_presence(&ks, &k, INT64_MAX, 0);
	assert_key(&k, p, "presence:room:9223372036854775807", KEY_PRESENCE);
	keys_presence(&ks, &k, INT64_MAX, 1);
	assert_key(&k, p, "presence:room:9223372036854775807:users",
	    KEY_PRESENCE);
	/* The longest names there are: a full prefix, a hash, a window. */
	keys_signin(&ks, &k, KEYS_SIGNIN_EMAIL, hash, INT64_MAX);
	assert_key(&k, p, "ratelimit:signin:email:a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
	    "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf:9223372036854775807", KEY_RATELIMIT);
	keys_signin(&ks, &k, KEYS_SIGNIN_ADDR, hash, 1);
	assert_key(&k, p, "ratelimit:signin:addr:a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
	    "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf:1", KEY_RATELIMIT);
	keys_tasks(&ks, &k, KEY_TASKS_PENDING);
	assert_key(&k, p, "tasks:pending", KEY_TASKS);
	keys_tasks(&ks, &k, KEY_TASKS_PROCESSING);
	assert_key(&k, p, "tasks:processing", KEY_TASKS);
	keys_tasks(&ks, &k, KEY_TASKS_DELAYED);
	assert_key(&k, p, "tasks:delayed", KEY_TASKS);
	keys_tasks(&ks, &k, KEY_TASKS_FAILED);
	assert_key(&k, p, "tasks:failed", KEY_TASKS);
	keys_worker_lock(&ks, &k);
	assert_key(&k, p, "worker:lock", KEY_WORKER_LOCK);
	keys_queue_state(&ks, &k);
	assert_key(&k, p, "queue:state", KEY_QUEUE_STATE);
	/* Every family's names start with its stem. */
	keys_messages(&ks, &k, 1);
	snprintf(name, sizeof(name), "%s", keys_families[k.fam].stem);
	assert_memory_equal(k.s + k.plen, name, strlen(name));
}

/* Today's bug: under a long prefix two sessions shared one key. */
static void
test_no_truncation(void **state)
{
	struct keyspace ks;
	struct rkey a, b;
	unsigned char h1[32], h2[32];
	char p[KEYS_PREFIX_MAX + 1], err[128];

	(void)state;
	prefix_of(p, KEYS_PREFIX_MAX);
	assert_int_equal(keys_init(&ks, p, err, sizeof(err)), 0);
	memset(h1, 0x11, sizeof(h1));
	memcpy(h2, h1, sizeof(h2));
	h2[31] = 0x12;		/* differs in the last hex digits only */
	keys_session(&ks, &a, h1);
	keys_session(&ks, &b, h2);
	assert_int_equal(a.len, b.len);
	assert_string_not_equal(a.s, b.s);
}

static void
test_lease(void **state)
{
	struct keyspace ks;
	struct rkey k, l, g;
	char err[128];

	(void)state;
	assert_int_equal(keys_init(&ks, "cd:", err, sizeof(err)), 0);
	keys_ticket(&ks, &k, 42);
	keys_lease(&k, &l);
	assert_key(&l, "cd:", "lease:ticket:42", KEY_LEASE);
	keys_messages(&ks, &k, 3);
	keys_lease(&k, &l);
	assert_key(&l, "cd:", "lease:messages:room:3", KEY_LEASE);
	/* The lease of a glob is a glob of the leases. */
	keys_stats_glob(&ks, &g, 5);
	assert_key(&g, "cd:", "stats:user:5:days:*", KEY_STATS);
	keys_lease(&g, &l);
	assert_key(&l, "cd:", "lease:stats:user:5:days:*", KEY_LEASE);
}

static void
test_glob(void **state)
{
	struct keyspace ks;
	struct rkey g, l;
	char err[128], pat[KEYS_NAME_MAX + 2];

	(void)state;
	/* Glob characters of the prefix match only themselves. */
	assert_int_equal(keys_init(&ks, "a*b?[c]\\", err, sizeof(err)), 0);
	assert_int_equal(keys_glob(&ks, &g, KEY_USER, "user:*"), 0);
	assert_string_equal(g.s, "a\\*b\\?\\[c\\]\\\\user:*");
	assert_int_equal(g.plen, strlen("a\\*b\\?\\[c\\]\\\\"));
	assert_int_equal(g.len, strlen(g.s));
	/* The longest prefix, all glob characters, still fits. */
	memset(pat, '*', KEYS_PREFIX_MAX);
	pat[KEYS_PREFIX_MAX] = '\0';
	assert_int_equal(keys_init(&ks, pat, err, sizeof(err)), 0);
	memset(pat, 'x', KEYS_NAME_MAX - KEYS_LEASE_LEN);
	pat[KEYS_NAME_MAX - KEYS_LEASE_LEN] = '\0';
	assert_int_equal(keys_glob(&ks, &g, KEY_USER, pat), 0);
	assert_int_equal(g.len, 2 * KEYS_PREFIX_MAX + KEYS_NAME_MAX -
	    KEYS_LEASE_LEN);
	/* ... and so does its lease. */
	keys_lease(&g, &l);
	assert_int_equal(l.len, 2 * KEYS_PREFIX_MAX + KEYS_NAME_MAX);
	/* A longer pattern is refused, not cut. */
	memset(pat, 'x', KEYS_NAME_MAX - KEYS_LEASE_LEN + 1);
	pat[KEYS_NAME_MAX - KEYS_LEASE_LEN + 1] = '\0';
	assert_int_equal(keys_glob(&ks, &g, KEY_USER, pat), -1);
}

static void
test_cache_names(void **state)
{
	char longname[200];

	(void)state;
	assert_int_equal(keys_cache_name_ok("ticket:5", 0), 1);
	assert_int_equal(keys_cache_name_ok("messages:room:1", 0), 1);
	assert_int_equal(keys_cache_name_ok("user:1", 0), 1);
	assert_int_equal(keys_cache_name_ok("session:ab12", 0), 1);
	assert_int_equal(keys_cache_name_ok("stats:user:5:*", 1), 1);
	assert_int_equal(keys_cache_name_ok("lease:ticket:5", 0), 1);
	/* Not a cache family. */
	assert_int_equal(keys_cache_name_ok("tasks:pending", 0), 0);
	assert_int_equal(keys_cache_name_ok("worker:lock", 0), 0);
	assert_int_equal(keys_cache_name_ok("ratelimit:1:2", 0), 0);
	assert_int_equal(keys_cache_name_ok("stats:5", 0), 0);
	/* Characters of our names only; '*' in patterns only. */
	assert_int_equal(keys_cache_name_ok("ticket:5*", 0), 0);
	assert_int_equal(keys_cache_name_ok("ticket:A", 0), 0);
	assert_int_equal(keys_cache_name_ok("ticket:5 6", 1), 0);
	memset(longname, '1', sizeof(longname) - 1);
	memcpy(longname, "user:", 5);
	longname[128] = '\0';
	assert_int_equal(keys_cache_name_ok(longname, 0), 1);
	longname[128] = '1';
	longname[129] = '\0';
	assert_int_equal(keys_cache_name_ok(longname, 0), 0);
}

static void
test_named_stored(void **state)
{
	struct keyspace ks;
	struct rkey k, l;
	char err[128];

	(void)state;
	assert_int_equal(keys_init(&ks, "cd:", err, sizeof(err)), 0);
	assert_int_equal(keys_named(&ks, &k, "ticket:9"), 0);
	assert_key(&k, "cd:", "ticket:9", KEY_TICKET);
	/* A remembered key keeps its prefix, so its lease is found. */
	assert_int_equal(keys_stored(&ks, &k, "cd:user:4"), 0);
	assert_int_equal(k.plen, 3);
	keys_lease(&k, &l);
	assert_string_equal(l.s, "cd:lease:user:4");
}

/* The family registry: designated, complete, cache families first. */
static void
test_registry(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < KEY__MAX; i++) {
		assert_non_null(keys_families[i].label);
		assert_non_null(keys_families[i].stem);
		assert_int_equal(keys_families[i].cache,
		    i < KEY_CACHE__MAX || i == KEY_LEASE);
	}
	assert_string_equal(keys_families[KEY_MESSAGES].label, "messages");
	assert_string_equal(keys_families[KEY_STATS].label, "stats");
}

/* A restored database's generation goes into every cache family's
 * names (their leases and globs too), never into the queue's, the worker
 * lock's or the rate limits'. */
static void
test_generation(void **state)
{
	struct keyspace ks;
	struct rkey k, l, g;
	char err[128], gen[KEYS_GEN_MAX + 2], pre[KEYS_PREFIX_MAX + 1];

	(void)state;
	assert_int_equal(keys_init(&ks, "cd:", err, sizeof(err)), 0);
	assert_int_equal(keys_set_generation(&ks, "0a1b2c", err, sizeof(err)), 0);
	keys_user(&ks, &k, 7);
	assert_key(&k, "cd:g0a1b2c:", "user:7", KEY_USER);
	keys_lease(&k, &l);
	assert_key(&l, "cd:g0a1b2c:", "lease:user:7", KEY_LEASE);
	keys_messages(&ks, &k, 3);
	assert_key(&k, "cd:g0a1b2c:", "messages:room:3", KEY_MESSAGES);
	keys_stats_glob(&ks, &g, 5);
	assert_key(&g, "cd:g0a1b2c:", "stats:user:5:days:*", KEY_STATS);
	assert_int_equal(keys_named(&ks, &k, "ticket:9"), 0);
	assert_key(&k, "cd:g0a1b2c:", "ticket:9", KEY_TICKET);
	keys_tasks(&ks, &k, KEY_TASKS_PENDING);
	assert_key(&k, "cd:", "tasks:pending", KEY_TASKS);
	keys_worker_lock(&ks, &k);
	assert_key(&k, "cd:", "worker:lock", KEY_WORKER_LOCK);
	keys_ratelimit(&ks, &k, 1, 2);
	assert_key(&k, "cd:", "ratelimit:1:2", KEY_RATELIMIT);
	/* A stored key of the generation keeps it as its prefix. */
	assert_int_equal(keys_stored(&ks, &k, "cd:g0a1b2c:user:7"), 0);
	assert_int_equal(k.plen, strlen("cd:g0a1b2c:"));
	/* Back to none: plain names again. */
	assert_int_equal(keys_set_generation(&ks, "", err, sizeof(err)), 0);
	keys_user(&ks, &k, 7);
	assert_key(&k, "cd:", "user:7", KEY_USER);
	/* Bounded and plain: no glob or separator characters. */
	assert_int_equal(keys_set_generation(&ks, "a*", err, sizeof(err)), -1);
	assert_int_equal(keys_set_generation(&ks, "a:b", err, sizeof(err)), -1);
	memset(gen, 'a', KEYS_GEN_MAX + 1);
	gen[KEYS_GEN_MAX + 1] = '\0';
	assert_int_equal(keys_set_generation(&ks, gen, err, sizeof(err)), -1);
	gen[KEYS_GEN_MAX] = '\0';
	/* The longest prefix and generation, a glob of all glob bytes: fits. */
	memset(pre, '*', KEYS_PREFIX_MAX);
	pre[KEYS_PREFIX_MAX] = '\0';
	assert_int_equal(keys_init(&ks, pre, err, sizeof(err)), 0);
	assert_int_equal(keys_set_generation(&ks, gen, err, sizeof(err)), 0);
	assert_int_equal(keys_glob(&ks, &g, KEY_USER, "user:*"), 0);
	keys_lease(&g, &l);
	assert_int_equal(l.len, strlen(l.s));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_limit),
		cmocka_unit_test(test_prefix_config),
		cmocka_unit_test(test_families),
		cmocka_unit_test(test_no_truncation),
		cmocka_unit_test(test_lease),
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_cache_names),
		cmocka_unit_test(test_named_stored),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_generation),
	};

	log_init("test_keys", LOGL__MAX);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* config: see config.h. Keys are a table, so that defaults, parsing,
 * environment names and validation cannot drift apart. */
#include "autoconf.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "keys.h"
#include "log.h"
#include "rconn.h"
#include "util.h"

enum ckind {
	CK_STR,		/* any text; at most max bytes if max > 0 */
	CK_PATH,	/* non-empty text */
	CK_URL,		/* a Redis URL, checked by rconn_parse_url */
	CK_INT,		/* integer in min..max */
	CK_SYNC,	/* full | normal */
	CK_LEVEL	/* debug | info | warn | error */
};

/*
 * live: 1 for the keys SIGHUP may change in a running process. They are
 * the ones read from struct config each time they are used, never copied
 * into a module at start-up, and whose change cannot make two processes
 * of one pool disagree about what is in Redis or SQLite. Connections,
 * paths, the key prefix and the cache's shape (room_cache_size,
 * record_ttl, which auth copies) need a restart.
 */
struct ckey {
	const char	*name;
	enum ckind	 kind;
	size_t		 off;
	const char	*def;
	long long	 min;
	long long	 max;
	int		 live;
};

#define S(f)	offsetof(struct config, f)

static const struct ckey ckeys[] = {
	{ "archive_db_path", CK_PATH, S(archive_db_path), "var/archive.db", 0, 0, 0 },
	{ "body_timeout_ms", CK_INT, S(body_timeout_ms), "10000", 1, 600000, 0 },
	{ "db_path", CK_PATH, S(db_path), "var/chatdesk.db", 0, 0, 0 },
	{ "dead_max", CK_INT, S(dead_max), "10000", 1, 100000000, 1 },
	{ "debug_fill_delay_ms", CK_INT, S(debug_fill_delay_ms), "0", 0, 10000, 1 },
	{ "events_publish_url", CK_STR, S(events_publish_url), "http://localhost/pub/", 0, 0, 0 },
	{ "events_recheck_s", CK_INT, S(events_recheck_s), "60", 1, 86400, 1 },
	{ "events_socket", CK_STR, S(events_socket), "/run/chatdesk-events/events.sock", 0, 0, 0 },
	{ "events_timeout_ms", CK_INT, S(events_timeout_ms), "250", 1, 60000, 0 },
	{ "key_prefix", CK_STR, S(key_prefix), "", 0, KEYS_PREFIX_MAX, 0 },
	{ "log_file", CK_STR, S(log_file), "", 0, 0, 1 },
	{ "log_level", CK_LEVEL, S(log_level), "info", 0, 0, 1 },
	{ "maintenance_batch_ms", CK_INT, S(maintenance_batch_ms), "5", 1, 10000, 1 },
	{ "max_body_bytes", CK_INT, S(max_body_bytes), "65536", 1024, 16777216, 1 },
	{ "notify_command", CK_STR, S(notify_command), "", 0, 0, 1 },
	{ "notify_timeout_ms", CK_INT, S(notify_timeout_ms), "5000", 1, 600000, 1 },
	{ "queue_redis_url", CK_URL, S(queue_redis_url), "", 0, 0, 0 },
	{ "rate_limit_count", CK_INT, S(rate_limit_count), "20", 1, 1000000, 1 },
	{ "rate_limit_window", CK_INT, S(rate_limit_window), "10", 1, 86400, 1 },
	{ "record_ttl", CK_INT, S(record_ttl), "300", 1, 86400 * 30, 0 },
	{ "redis_command_timeout_ms", CK_INT, S(redis_command_timeout_ms), "250", 1, 60000, 0 },
	{ "redis_connect_timeout_ms", CK_INT, S(redis_connect_timeout_ms), "100", 1, 60000, 0 },
	{ "redis_retry_ms", CK_INT, S(redis_retry_ms), "1000", 1, 3600000, 0 },
	{ "redis_url", CK_URL, S(redis_url), "redis://127.0.0.1:6379/0", 0, 0, 0 },
	{ "room_cache_size", CK_INT, S(room_cache_size), "50", 1, 100, 0 },
	{ "room_cache_ttl", CK_INT, S(room_cache_ttl), "3600", 1, 86400 * 30, 1 },
	{ "signin_rate_limit_addr", CK_INT, S(signin_rate_limit_addr), "100", 1, 1000000, 1 },
	{ "signin_rate_limit_email", CK_INT, S(signin_rate_limit_email), "10", 1, 1000000, 1 },
	{ "signin_rate_limit_window", CK_INT, S(signin_rate_limit_window), "300", 1, 86400, 1 },
	{ "slow_request_ms", CK_INT, S(slow_request_ms), "1000", 0, 3600000, 1 },
	{ "sqlite_synchronous", CK_SYNC, S(sqlite_synchronous), "full", 0, 0, 0 },
	{ "task_backoff_s", CK_INT, S(task_backoff_s), "30", 0, 86400, 1 },
	{ "task_done_keep_s", CK_INT, S(task_done_keep_s), "600", 0, 86400 * 30, 1 },
	{ "task_max_attempts", CK_INT, S(task_max_attempts), "3", 1, 100, 1 },
	{ "token_max_age_days", CK_INT, S(token_max_age_days), "0", 0, 36500, 1 },
	{ "worker_stale_s", CK_INT, S(worker_stale_s), "300", 1, 86400 * 30, 1 },
};

#define NKEYS	(sizeof(ckeys) / sizeof(ckeys[0]))

static const struct ckey *
config_find(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(ckeys[i].name, name) == 0)
			return &ckeys[i];
	return NULL;
}

/* On failure config_load frees what it set, so callers need not. */

/* Sets one key; the value text is not echoed uncut into messages. */
static int
config_apply(struct config *cfg, const struct ckey *k, const char *val,
    char *err, size_t errsz)
{
	char *base = (char *)cfg;
	long long n;
	int lvl;
	char uerr[128];
	struct rconn_url u;

	switch (k->kind) {
	case CK_PATH:
		if (*val == '\0') {
			snprintf(err, errsz, "%s: must not be empty", k->name);
			return -1;
		}
		/* FALLTHROUGH */
	case CK_STR:
		if (k->max > 0 && strlen(val) > (size_t)k->max) {
			snprintf(err, errsz, "%s: at most %lld bytes (%zu given)",
			    k->name, k->max, strlen(val));
			return -1;
		}
		free(*(char **)(base + k->off));
		if ((*(char **)(base + k->off) = strdup(val)) == NULL)
			abort();
		return 0;
	case CK_URL:
		if (*val != '\0' && rconn_parse_url(val, &u, uerr, sizeof(uerr)) == -1) {
			snprintf(err, errsz, "%s: bad value '%.64s': %s",
			    k->name, val, uerr);
			return -1;
		}
		free(*(char **)(base + k->off));
		if ((*(char **)(base + k->off) = strdup(val)) == NULL)
			abort();
		return 0;
	case CK_INT:
		if (util_parse_int(val, k->min, k->max, &n) == -1) {
			snprintf(err, errsz, "%s: bad value '%.64s' "
			    "(expected an integer in %lld..%lld)",
			    k->name, val, k->min, k->max);
			return -1;
		}
		*(long long *)(base + k->off) = n;
		return 0;
	case CK_SYNC:
		if (strcmp(val, "full") == 0)
			*(int *)(base + k->off) = SYNC_FULL;
		else if (strcmp(val, "normal") == 0)
			*(int *)(base + k->off) = SYNC_NORMAL;
		else {
			snprintf(err, errsz, "%s: bad value '%.64s' "
			    "(expected full or normal)", k->name, val);
			return -1;
		}
		return 0;
	case CK_LEVEL:
		if ((lvl = log_level_parse(val)) == -1) {
			snprintf(err, errsz, "%s: bad value '%.64s' "
			    "(expected debug, info, warn or error)", k->name, val);
			return -1;
		}
		*(int *)(base + k->off) = lvl;
		return 0;
	}
	return -1;
}

int
config_set(struct config *cfg, const char *key, const char *val,
    char *err, size_t errsz)
{
	const struct ckey *k;

	if ((k = config_find(key)) == NULL) {
		snprintf(err, errsz, "%.64s: unknown key", key);
		return -1;
	}
	return config_apply(cfg, k, val, err, errsz);
}

void
config_defaults(struct config *cfg)
{
	char err[CONFIG_ERRLEN];
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < NKEYS; i++)
		if (config_apply(cfg, &ckeys[i], ckeys[i].def, err,
		    sizeof(err)) == -1)
			abort();	/* a bad default is a programming error */
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Reads `key = value` lines; '#' starts a comment line. */
static int
config_file(struct config *cfg, const char *path, char *err, size_t errsz)
{
	FILE *f;
	char line[4096], kerr[CONFIG_ERRLEN], *eq, *key, *val;
	int lineno = 0, rc = 0;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errsz, "%.200s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errsz, "%.200s:%d: line too long", path, lineno);
			rc = -1;
			break;
		}
		key = trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		if ((eq = strchr(key, '=')) == NULL) {
			snprintf(err, errsz, "%.200s:%d: expected key = value",
			    path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		key = trim(key);
		val = trim(eq + 1);
		if (config_set(cfg, key, val, kerr, sizeof(kerr)) == -1) {
			snprintf(err, errsz, "%.200s:%d: %s", path, lineno, kerr);
			rc = -1;
			break;
		}
	}
	fclose(f);
	return rc;
}

const char *
config_log_file(const char *path, char *buf, size_t bufsz)
{
	FILE *f;
	char line[4096], *key, *eq;
	const char *v;

	*buf = '\0';
	if (path == NULL && (v = getenv("CHATDESK_CONFIG")) != NULL && *v != '\0')
		path = v;
	if (path != NULL && (f = fopen(path, "r")) != NULL) {
		/* The last log_file line wins, as in config_file; any other
		 * line, good or bad, is skipped. */
		while (fgets(line, sizeof(line), f) != NULL) {
			key = trim(line);
			if ((eq = strchr(key, '=')) == NULL)
				continue;
			*eq = '\0';
			if (strcmp(trim(key), "log_file") == 0)
				snprintf(buf, bufsz, "%s", trim(eq + 1));
		}
		fclose(f);
	}
	if ((v = getenv("CHATDESK_LOG_FILE")) != NULL)
		snprintf(buf, bufsz, "%s", v);
	return buf;
}

int
config_load(struct config *cfg, const char *path, char *err, size_t errsz)
{
	char env[64], kerr[CONFIG_ERRLEN];
	const char *v;
	size_t i, j;

	config_defaults(cfg);
	if (path == NULL && (v = getenv("CHATDESK_CONFIG")) != NULL && *v != '\0')
		path = v;
	if (path != NULL && config_file(cfg, path, err, errsz) == -1) {
		config_free(cfg);
		return -1;
	}
	for (i = 0; i < NKEYS; i++) {
		snprintf(env, sizeof(env), "CHATDESK_");
		for (j = 0; ckeys[i].name[j] != '\0' && j + 10 < sizeof(env); j++)
			env[9 + j] = (char)toupper((unsigned char)ckeys[i].name[j]);
		env[9 + j] = '\0';
		if ((v = getenv(env)) == NULL)
			continue;
		if (config_apply(cfg, &ckeys[i], v, kerr, sizeof(kerr)) == -1) {
			snprintf(err, errsz, "%s (from %s)", kerr, env);
			config_free(cfg);
			return -1;
		}
	}
	if (*cfg->queue_redis_url == '\0') {
		free(cfg->queue_redis_url);
		if ((cfg->queue_redis_url = strdup(cfg->redis_url)) == NULL)
			abort();
	}
	return 0;
}

/* 1 if the key's value differs between a and b. */
static int
config_differs(const struct ckey *k, const struct config *a,
    const struct config *b)
{
	const char *pa = (const char *)a + k->off, *pb = (const char *)b + k->off;

	switch (k->kind) {
	case CK_STR:
	case CK_PATH:
	case CK_URL:
		return strcmp(*(char *const *)pa, *(char *const *)pb) != 0;
	case CK_INT:
		return *(const long long *)pa != *(const long long *)pb;
	case CK_SYNC:
	case CK_LEVEL:
		return *(const int *)pa != *(const int *)pb;
	}
	return 0;
}

int
config_reload(struct config *cur, struct config *next,
    void (*report)(void *, const char *key, int applied), void *arg)
{
	char *base = (char *)cur, *nbase = (char *)next, *t;
	size_t i;
	int n = 0;

	for (i = 0; i < NKEYS; i++) {
		if (!config_differs(&ckeys[i], cur, next))
			continue;
		if (ckeys[i].live) {
			switch (ckeys[i].kind) {
			case CK_STR:
			case CK_PATH:
			case CK_URL:
				/* Swapped: config_free(next) frees the old. */
				t = *(char **)(base + ckeys[i].off);
				*(char **)(base + ckeys[i].off) =
				    *(char **)(nbase + ckeys[i].off);
				*(char **)(nbase + ckeys[i].off) = t;
				break;
			case CK_INT:
				*(long long *)(base + ckeys[i].off) =
				    *(long long *)(nbase + ckeys[i].off);
				break;
			case CK_SYNC:
			case CK_LEVEL:
				*(int *)(base + ckeys[i].off) =
				    *(int *)(nbase + ckeys[i].off);
				break;
			}
			n++;
		}
		report(arg, ckeys[i].name, ckeys[i].live);
	}
	return n;
}

void
config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (ckeys[i].kind == CK_STR || ckeys[i].kind == CK_PATH ||
		    ckeys[i].kind == CK_URL) {
			char **p = (char **)((char *)cfg + ckeys[i].off);
			free(*p);
			*p = NULL;
		}
	}
}

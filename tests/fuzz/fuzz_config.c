/*
 * libFuzzer target: the configuration file parser (config.c), which an
 * operator or a package writes and every program reads at start: the
 * `key = value` lines, comments, line length, every key's validation
 * (integers and their ranges, paths, levels, the Redis URL forms through
 * rconn_parse_url and uriparser), then what app_open checks next (the key
 * prefix, keys_init), where a start-up error is logged (config_log_file)
 * and a SIGHUP's reload over a running configuration (config_reload). The input is the file, written to a memfd that
 * config_load opens by its /proc path, so the real fopen/fgets path runs
 * without touching the disk.
 *
 * Checked: a load that succeeds leaves every string set and every number
 * in its range; one that fails says why in a NUL-terminated message.
 */
#include "autoconf.h"

#include <sys/mman.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "keys.h"
#include "log.h"
#include "rconn.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;
static char path[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_config", LOGL__MAX);
	/* The environment overrides the file: none of it may leak in. */
	if (clearenv() != 0)
		abort();
	if ((fd = memfd_create("fuzz_config", MFD_CLOEXEC)) == -1)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return 0;
}

static int nreported;

static void
reported(void *arg, const char *key, int applied)
{
	(void)arg;
	if (key == NULL || *key == '\0' || (applied != 0 && applied != 1))
		abort();
	nreported++;
}

static void
must(int ok)
{
	if (!ok)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg, cur;
	struct keyspace ks;
	char lf[4096];
	struct rconn_url u;
	char err[CONFIG_ERRLEN + 256], kerr[128];

	if (ftruncate(fd, 0) == -1 ||
	    (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
	/* Where a start-up error is logged, read from the same file. */
	must(strlen(config_log_file(path, lf, sizeof(lf))) < sizeof(lf));
	memset(err, 'x', sizeof(err));
	if (config_load(&cfg, path, err, sizeof(err)) == -1) {
		must(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
		return 0;
	}
	/* SIGHUP: the file over the defaults, as a running process does;
	 * the live keys move, every difference is reported. */
	config_defaults(&cur);
	nreported = 0;
	(void)config_reload(&cur, &cfg, reported, &nreported);
	config_free(&cur);
	must(cfg.db_path != NULL && *cfg.db_path != '\0');
	must(cfg.archive_db_path != NULL && *cfg.archive_db_path != '\0');
	must(cfg.redis_url != NULL && cfg.queue_redis_url != NULL);
	must(cfg.key_prefix != NULL && cfg.notify_command != NULL &&
	    cfg.log_file != NULL);
	must(strlen(cfg.key_prefix) <= KEYS_PREFIX_MAX);
	must(cfg.room_cache_size >= 1 && cfg.room_cache_size <= 100);
	must(cfg.max_body_bytes >= 1024 && cfg.max_body_bytes <= 16777216);
	must(cfg.redis_retry_ms >= 1 && cfg.task_max_attempts >= 1);
	must(cfg.sqlite_synchronous == SYNC_FULL ||
	    cfg.sqlite_synchronous == SYNC_NORMAL);
	must(cfg.log_level >= LOGL_DEBUG && cfg.log_level < LOGL__MAX);
	/* A URL that was accepted parses again, as rconn_new will. */
	if (*cfg.redis_url != '\0')
		must(rconn_parse_url(cfg.redis_url, &u, kerr,
		    sizeof(kerr)) == 0);
	if (*cfg.queue_redis_url != '\0')
		must(rconn_parse_url(cfg.queue_redis_url, &u, kerr,
		    sizeof(kerr)) == 0);
	/* What app_open does next with the prefix; a refusal is allowed
	 * (it is reported at start), a crash is not. */
	(void)keys_init(&ks, cfg.key_prefix, kerr, sizeof(kerr));
	config_free(&cfg);
	return 0;
}

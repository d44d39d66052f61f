/* app: see app.h. */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "auth.h"
#include "cache.h"
#include "events.h"
#include "gcommit.h"
#include "keys.h"
#include "metrics.h"
#include "queue.h"
#include "rconn.h"

int
app_open(struct app *app, enum db_open_mode mode, char *err, size_t errsz)
{
	const struct config *c = &app->cfg;
	unsigned char mac_key[DB_SECRET_LEN];
	struct rconn *rc, *qrc;
	struct keyspace ks;
	char gen[DB_GENERATION_MAX + 1];
	int keyed;

	http_io_init(&app->io);
	app->io.body_timeout_ms = c->body_timeout_ms;
	/* config_load checked the prefix already; this is the one place
	 * keys are set up for the cache and the queue. */
	if (keys_init(&ks, c->key_prefix, err, errsz) == -1)
		return -1;
	if ((app->db = db_open(c, mode, err, errsz)) == NULL)
		return -1;
	/* Read once: a restore refuses to run under a live pool, which
	 * would go on with the generation it started with. */
	if (mode == DB_OPEN_APP &&
	    (db_generation(app->db, gen, sizeof(gen)) == -1 ||
	    keys_set_generation(&ks, gen, err, errsz) == -1)) {
		if (*gen == '\0')
			snprintf(err, errsz, "db_path: cannot read the database "
			    "generation (see the log above)");
		db_close(app->db);
		app->db = NULL;
		return -1;
	}
	/* The cache's secret lives in the database, never in Redis: a
	 * database being migrated may not have it yet, and its cache then
	 * reads nothing from Redis. */
	keyed = mode != DB_OPEN_APP ? 1 : db_secret(app->db,
	    DB_SECRET_CACHE_MAC, mac_key, sizeof(mac_key));
	if (keyed != 0 && mode == DB_OPEN_APP) {
		snprintf(err, errsz, "db_path: %.200s holds no cache secret: "
		    "run chatdeskctl migrate", c->db_path);
		db_close(app->db);
		app->db = NULL;
		return -1;
	}
	if (metrics_open(c->db_path) == -1 && app->metrics_required) {
		snprintf(err, errsz, "metrics: cannot open %.200s-metrics (see "
		    "the line above; it must belong to the database's owner, "
		    "mode 0660; running chatdeskctl as root mends it)",
		    c->db_path);
		util_wipe(mac_key, sizeof(mac_key));
		db_close(app->db);
		app->db = NULL;
		return -1;
	}
	app->events = events_new(c->events_publish_url, c->events_socket,
	    c->events_timeout_ms);
	/* A failed WAL sync stops every writer (gcommit.h) until a pool
	 * process starts again: the operator's restart. */
	if (mode == DB_OPEN_APP)
		gcommit_reset(metrics_gcommit());
	rc = rconn_new(c->redis_url, c->redis_connect_timeout_ms,
	    c->redis_command_timeout_ms, c->redis_retry_ms);
	/* One connection when both URLs name the same server. */
	app->one_redis = strcmp(c->redis_url, c->queue_redis_url) == 0;
	if (app->one_redis)
		qrc = rconn_ref(rc);
	else
		qrc = rconn_new(c->queue_redis_url,
		    c->redis_connect_timeout_ms, c->redis_command_timeout_ms,
		    c->redis_retry_ms);
	app->cache = cache_open(c, app->db, rc, &ks,
	    keyed == 0 ? mac_key : NULL);
	util_wipe(mac_key, sizeof(mac_key));
	app->queue = queue_open(c, app->db, qrc, &ks);
	app->auth = auth_open(app->db, app->cache, c);
	return 0;
}

void
app_close(struct app *app)
{
	events_flush(app->events);
	events_free(app->events);
	app->events = NULL;
	auth_close(app->auth);
	app->auth = NULL;
	queue_close(app->queue);
	app->queue = NULL;
	cache_close(app->cache);
	app->cache = NULL;
	db_close(app->db);
	app->db = NULL;
	metrics_close();
	http_io_free(&app->io);
}

/*
 * api_events: the live-event routes of API.md section 8. chatdesk
 * authorizes and Nchan holds: GET /api/v1/events checks the caller and
 * every room and ticket asked for, then answers X-Accel-Redirect to the
 * internal subscriber location of nginx/chatdesk-events.conf, so the pool
 * process is free at once. Typing is published, never stored; presence
 * comes from Nchan's subscribe/unsubscribe callbacks.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api.h"
#include "app.h"
#include "auth.h"
#include "cache_events.h"
#include "events.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit.h"
#include "tickets.h"

#define EVENTS_IDS_MAX		50	/* rooms= and tickets= each */
#define EVENTS_TICKET_TTL	60	/* seconds, as the contract says */
#define EVENTS_PRESENCE_GRACE_S	10	/* an entry outlives its subscription */
#define EVENTS_LAST_ID_MAX	2048	/* Nchan ids of 102 channels fit */
#define EVENTS_SID_LEN		32	/* hex of 16 random bytes */
#define EVENTS_ONLINE_MAX	10000

/* 1 if s is exactly n base64url characters. */
static int
b64url_exact(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' &&
		    s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '-' || s[i] == '_'))
			return 0;
	return s[n] == '\0';
}

/*
 * An event ticket T stands for the bearer token that asked for it. Redis
 * stores, under events:ticket:{sha256(T) hex}, the token masked with the
 * first 43 bytes of sha512(T): Redis alone yields neither the ticket nor
 * the token, and a value written there by anyone else unmasks to no live
 * token (API.md section 4: Redis is not trusted with identity). The
 * token is then checked like any bearer token: a revoked one fails.
 */
static void
ticket_derive(const char *ticket, unsigned char k[crypto_hash_sha256_BYTES],
    unsigned char pad[CACHE_EVENTS_TICKET_LEN])
{
	unsigned char h[crypto_hash_sha512_BYTES];

	crypto_hash_sha256(k, (const unsigned char *)ticket, AUTH_TOKEN_LEN);
	crypto_hash_sha512(h, (const unsigned char *)ticket, AUTH_TOKEN_LEN);
	memcpy(pad, h, CACHE_EVENTS_TICKET_LEN);
	sodium_memzero(h, sizeof(h));
}

static void
mask(unsigned char *dst, const unsigned char *a, const unsigned char *b)
{
	size_t i;

	for (i = 0; i < CACHE_EVENTS_TICKET_LEN; i++)
		dst[i] = a[i] ^ b[i];
}

/* POST /api/v1/events/tickets -> 201 {"ticket","expires_in":60} */
void
api_events_ticket(struct app *app, struct req *req, const int64_t *ids)
{
	unsigned char raw[32], pad[CACHE_EVENTS_TICKET_LEN];
	unsigned char val[CACHE_EVENTS_TICKET_LEN];
	unsigned char key[crypto_hash_sha256_BYTES];
	char ticket[AUTH_TOKEN_LEN + 1];

	if (http_read_json(req, app->cfg.max_body_bytes, 1) == -1)
		return;
	/* Authenticated already: the header is "Bearer " and 43 chars. */
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(ticket, sizeof(ticket), raw, sizeof(raw),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	ticket_derive(ticket, key, pad);
	mask(val, (const unsigned char *)req->authorization + 7, pad);
	if (cache_events_ticket_put(app->cache, key, val, EVENTS_TICKET_TTL) ==
	    -1) {
		http_unavailable(req);
		return;
	}
	sodium_memzero(val, sizeof(val));
	http_no_store(req);
	http_json(req, 201, json_pack("{s:s, s:i}", "ticket", ticket,
	    "expires_in", EVENTS_TICKET_TTL));
}

/*
 * Authenticates GET /api/v1/events: the single-use ?ticket= if given,
 * else the bearer token. tokbuf receives "Bearer <token>" for the time of
 * the request. Returns 0, or -1 after answering (401, 503).
 */
static int
events_auth(struct app *app, struct req *req, char *tokbuf, size_t tokbufsz)
{
	unsigned char pad[CACHE_EVENTS_TICKET_LEN];
	unsigned char val[CACHE_EVENTS_TICKET_LEN];
	unsigned char key[crypto_hash_sha256_BYTES];
	const char *t;
	int rc;

	if ((t = http_param(req, "ticket")) == NULL)
		return auth_authenticate(app->auth, req);
	rc = 0;
	if (b64url_exact(t, AUTH_TOKEN_LEN)) {
		ticket_derive(t, key, pad);
		rc = cache_events_ticket_take(app->cache, key, val);
	}
	if (rc == 0) {
		http_error(req, 401, "unauthorized", NULL,
		    "unknown, used or expired event ticket");
		return -1;
	}
	if (rc == -1) {
		http_unavailable(req);
		return -1;
	}
	mask(val, val, pad);
	snprintf(tokbuf, tokbufsz, "Bearer %.*s", CACHE_EVENTS_TICKET_LEN,
	    (const char *)val);
	sodium_memzero(val, sizeof(val));
	req->authorization = tokbuf;
	return auth_authenticate(app->auth, req);
}

/* Appends ?last_event_id= (an Nchan message id: digits, ':', ',', '-',
 * '[', ']') to the redirect, percent-encoded. Returns 0, or -1 after
 * answering 400. */
static int
last_event_id(struct req *req, struct strbuf *uri)
{
	const char *v = http_param(req, "last_event_id");
	size_t i, n;

	if (v == NULL || *v == '\0')
		return 0;
	if ((n = strlen(v)) > EVENTS_LAST_ID_MAX ||
	    strspn(v, "0123456789:,-[]") != n) {
		http_invalid_field(req, "last_event_id",
		    "last_event_id must be an event id as received");
		return -1;
	}
	strbuf_adds(uri, "?last_event_id=");
	for (i = 0; i < n; i++)
		if (v[i] >= '0' && v[i] <= '9')
			strbuf_add(uri, v + i, 1);
		else
			strbuf_printf(uri, "%%%02X", (unsigned char)v[i]);
	return 0;
}

/*
 * GET /api/v1/events?rooms=ID,...&tickets=ID,...[&ticket=T]
 * [&last_event_id=ID]: the caller's own channel plus the rooms and
 * tickets, each checked; one it may not see is 404 for the whole
 * request, with the body a missing one gets. HEAD: the same checks,
 * then 200 without a subscription.
 */
void
api_events_subscribe(struct app *app, struct req *req, const int64_t *ids)
{
	int64_t rooms[EVENTS_IDS_MAX], tks[EVENTS_IDS_MAX];
	struct events_chans ch;
	struct ticket t;
	struct strbuf uri;
	unsigned char rnd[EVENTS_SID_LEN / 2];
	char tokbuf[64], sid[EVENTS_SID_LEN + 1];
	int nr, nt, i;

	if (events_auth(app, req, tokbuf, sizeof(tokbuf)) == -1) {
		metrics_event_refusal();
		goto out;
	}
	if ((nr = api_query_ids(req, "rooms", EVENTS_IDS_MAX, rooms)) == -1 ||
	    (nt = api_query_ids(req, "tickets", EVENTS_IDS_MAX, tks)) == -1)
		goto out;
	for (i = 0; i < nr; i++)
		if (api_room_visible(app, req, rooms[i]) == -1) {
			metrics_event_refusal();
			goto out;
		}
	for (i = 0; i < nt; i++)
		if (api_ticket_visible(app, req, tks[i], &t) == -1) {
			metrics_event_refusal();
			goto out;
		}
	events_chans_init(&ch);
	events_chans_add(&ch, "user", req->user_id);
	/* Agents and admins: every ticket's changes (an inbox). */
	if (auth_is_staff(req->role))
		events_chans_add_name(&ch, EVENTS_CHAN_STAFF);
	for (i = 0; i < nr; i++)
		events_chans_add(&ch, "room", rooms[i]);
	for (i = 0; i < nt; i++)
		events_chans_add(&ch, "ticket", tks[i]);
	/* HEAD is the checks alone, answered here: a subscription's GET
	 * never ends, so it has no head to copy (a client may probe whether
	 * it may subscribe; a ?ticket= is used up like any use). */
	if (strcmp(req->method, "HEAD") == 0) {
		http_empty(req, 200);
		goto out;
	}
	/* A subscription id, so that presence counts each connection. */
	util_random(rnd, sizeof(rnd));
	util_hex(rnd, sizeof(rnd), sid);
	strbuf_init(&uri);
	strbuf_printf(&uri, "/_chatdesk/events/%lld/%s/%s",
	    (long long)req->user_id, sid, ch.s);
	if (last_event_id(req, &uri) == 0) {
		http_header(req, "X-Accel-Redirect", uri.buf);
		http_header(req, "X-Accel-Buffering", "no");
		http_empty(req, 200);
		metrics_event_subscription();
	}
	strbuf_free(&uri);
out:
	/* tokbuf ends here; nothing reads the header after the handler. */
	sodium_memzero(tokbuf, sizeof(tokbuf));
	req->authorization = NULL;
}

/*
 * The subscription a callback is about: ?user=ID&sub=HEX&channels=LIST,
 * as nginx/chatdesk-events.conf's callbacks pass them from the redirect
 * chatdesk made. Collects the rooms of the list. Returns the number of
 * rooms, or -1 after answering 400.
 */
static int
callback_args(struct req *req, int64_t *user, const char **sid,
    int64_t *rooms)
{
	const char *u = http_param(req, "user"), *c = http_param(req,
	    "channels"), *p, *comma;
	size_t len;
	int n = 0;

	*sid = http_param(req, "sub");
	if (u == NULL || util_parse_id(u, strlen(u), user) == -1 ||
	    *sid == NULL || (len = strlen(*sid)) == 0 || len > 64 ||
	    strspn(*sid, "0123456789abcdef") != len || c == NULL) {
		http_error(req, 400, "invalid_field", NULL,
		    "user, sub and channels are required");
		return -1;
	}
	for (p = c; p != NULL && *p != '\0' && n < EVENTS_IDS_MAX;
	    p = comma ? comma + 1 : NULL) {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (len > 5 && strncmp(p, "room:", 5) == 0 &&
		    util_parse_id(p + 5, len - 5, &rooms[n]) == 0)
			n++;
	}
	return n;
}

/* presence to each room where the user came or went. */
static void
publish_presence(struct app *app, int64_t user, const int64_t *rooms,
    const int *flags, int n, int online)
{
	struct events_chans ch;
	int i;

	for (i = 0; i < n; i++) {
		if (!flags[i])
			continue;
		events_chans_init(&ch);
		events_chans_add(&ch, "room", rooms[i]);
		events_emit(app->events, &ch, json_pack("{s:s, s:I, s:I, s:b}",
		    "type", "presence", "room_id", (json_int_t)rooms[i],
		    "user_id", (json_int_t)user, "online", online));
	}
}

/* POST /api/v1/events/presence/join (Nchan's nchan_subscribe_request) */
void
api_events_join(struct app *app, struct req *req, const int64_t *ids)
{
	int64_t user, rooms[EVENTS_IDS_MAX], until;
	int first[EVENTS_IDS_MAX], n;
	const char *sid;

	if ((n = callback_args(req, &user, &sid, rooms)) == -1)
		return;
	/* Nchan ends the subscription after events_recheck_s at most. */
	until = util_now_ms() + (app->cfg.events_recheck_s +
	    EVENTS_PRESENCE_GRACE_S) * 1000;
	if (cache_events_presence_join(app->cache, user, sid, rooms, n, until,
	    first) == -1)
		log_warn("presence: user %lld not recorded: Redis is down",
		    (long long)user);
	else
		publish_presence(app, user, rooms, first, n, 1);
	http_empty(req, 204);
}

/* POST /api/v1/events/presence/leave (Nchan's nchan_unsubscribe_request) */
void
api_events_leave(struct app *app, struct req *req, const int64_t *ids)
{
	int64_t user, rooms[EVENTS_IDS_MAX];
	int last[EVENTS_IDS_MAX], n;
	const char *sid;

	if ((n = callback_args(req, &user, &sid, rooms)) == -1)
		return;
	if (cache_events_presence_leave(app->cache, user, sid, rooms, n, last) == -1)
		log_warn("presence: user %lld not removed: Redis is down "
		    "(the entry expires)", (long long)user);
	else
		publish_presence(app, user, rooms, last, n, 0);
	http_empty(req, 204);
}

/* POST /api/v1/rooms/{id}/typing (member or staff): published, never
 * stored; over the rate limit dropped without a word. */
void
api_rooms_typing(struct app *app, struct req *req, const int64_t *ids)
{
	struct events_chans ch;

	if (api_room_visible(app, req, ids[0]) == -1 ||
	    http_read_json(req, app->cfg.max_body_bytes, 1) == -1)
		return;
	if (ratelimit_typing(app, req->user_id)) {
		events_chans_init(&ch);
		events_chans_add(&ch, "room", ids[0]);
		events_emit(app->events, &ch, json_pack("{s:s, s:I, s:I}",
		    "type", "typing", "room_id", (json_int_t)ids[0],
		    "user_id", (json_int_t)req->user_id));
	}
	http_empty(req, 204);
}

/* GET /api/v1/rooms/{id}/presence (member or staff) -> {"online":[...]} */
void
api_rooms_presence(struct app *app, struct req *req, const int64_t *ids)
{
	int64_t *users;
	json_t *arr;
	int n, i;

	if (api_room_visible(app, req, ids[0]) == -1)
		return;
	if ((users = calloc(EVENTS_ONLINE_MAX, sizeof(*users))) == NULL)
		abort();
	if ((n = cache_events_presence_list(app->cache, ids[0], users,
	    EVENTS_ONLINE_MAX)) == -1) {
		/* Presence lives only in Redis: no answer is better than
		 * a wrong one. */
		free(users);
		http_unavailable(req);
		return;
	}
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_integer(users[i]));
	free(users);
	http_json(req, 200, json_pack("{s:o}", "online", arr));
}

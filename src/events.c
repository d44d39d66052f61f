/* events: see events.h. */
#include "autoconf.h"

#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "events.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define EVENTS_QUEUE_MAX	256	/* queued events; more: sent at once */
#define EVENTS_LOG_EVERY_US	1000000	/* failed publishes logged this often */
#define EVENTS_RETRY_US		1000000	/* after a failure, no try for this long */

struct pending {
	char	*chans;
	char	*text;		/* NULL: delete the channels instead */
	size_t	 len;
};

struct events {
	int		 enabled;
	char		*url;
	char		*sock;
	long long	 timeout_ms;
	CURL		*curl;
	struct curl_slist *headers;
	struct strbuf	 target;
	struct pending	 q[EVENTS_QUEUE_MAX];
	int		 nq;
	int64_t		 logged_us;
	uint64_t	 unlogged;	/* failures since the last log line */
	int64_t		 retry_us;	/* publisher failed: not before this */
	int		 fds_marked;	/* curl's own descriptors close-on-exec */
};

void
events_chans_init(struct events_chans *c)
{
	c->s[0] = '\0';
	c->len = 0;
	c->n = 0;
}

/* Appends one channel id of n bytes unless it is in the set already. */
static void
chans_append(struct events_chans *c, const char *one, size_t ol)
{
	const char *p;

	/* Already there: as a whole item, between commas or the ends. */
	for (p = c->s; (p = strstr(p, one)) != NULL; p += ol)
		if ((p == c->s || p[-1] == ',') &&
		    (p[ol] == ',' || p[ol] == '\0'))
			return;
	if (c->len + ol + 2 > sizeof(c->s))
		return;		/* callers bound the count: never here */
	if (c->len > 0)
		c->s[c->len++] = ',';
	memcpy(c->s + c->len, one, ol + 1);
	c->len += ol;
	c->n++;
}

void
events_chans_add(struct events_chans *c, const char *kind, int64_t id)
{
	char one[48];
	int n;

	if (id <= 0)
		return;
	n = snprintf(one, sizeof(one), "%s:%lld", kind, (long long)id);
	if (n < 0 || (size_t)n >= sizeof(one))
		return;
	chans_append(c, one, (size_t)n);
}

void
events_chans_add_name(struct events_chans *c, const char *name)
{
	chans_append(c, name, strlen(name));
}

/* Sockets libcurl opens are close-on-exec: a child the worker starts
 * (notify_command) inherits no descriptor of the app's (API.md 7). */
static curl_socket_t
open_cloexec(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	return size * n;
}

struct events *
events_new(const char *url, const char *sock, long long timeout_ms)
{
	static int curl_ready;
	struct events *ev;

	if ((ev = calloc(1, sizeof(*ev))) == NULL)
		abort();
	strbuf_init(&ev->target);
	ev->enabled = url != NULL && *url != '\0';
	if (!ev->enabled)
		return ev;
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			log_error("events: curl_global_init failed: "
			    "publishing is off");
			ev->enabled = 0;
			return ev;
		}
		curl_ready = 1;
	}
	if ((ev->url = strdup(url)) == NULL ||
	    (ev->sock = strdup(sock ? sock : "")) == NULL)
		abort();
	ev->timeout_ms = timeout_ms;
	return ev;
}

void
events_free(struct events *ev)
{
	int i;

	if (ev == NULL)
		return;
	for (i = 0; i < ev->nq; i++) {
		free(ev->q[i].chans);
		free(ev->q[i].text);
	}
	if (ev->curl != NULL)
		curl_easy_cleanup(ev->curl);
	curl_slist_free_all(ev->headers);
	strbuf_free(&ev->target);
	free(ev->url);
	free(ev->sock);
	free(ev);
}

/* The easy handle with everything but the URL and body set, made once. */
static CURL *
handle(struct events *ev)
{
	CURL *c;

	if (ev->curl != NULL)
		return ev->curl;
	if ((c = curl_easy_init()) == NULL)
		return NULL;
	ev->headers = curl_slist_append(ev->headers,
	    "Content-Type: application/json");
	ev->headers = curl_slist_append(ev->headers, "Accept: text/json");
	/* No "Expect: 100-continue" round trip for a bigger body. */
	ev->headers = curl_slist_append(ev->headers, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, ev->headers);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)ev->timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)ev->timeout_ms);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_cloexec);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	if (*ev->sock != '\0')
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, ev->sock);
	ev->curl = c;
	return c;
}

/*
 * Counts a failure and logs at most one line a second. After a failure
 * that took a timeout, the publisher is not tried again for
 * EVENTS_RETRY_US: a hung nginx would otherwise cost every post (and the
 * worker every ticket of a batch) events_timeout_ms.
 */
static void
failed(struct events *ev, const char *chans, const char *why, int back_off)
{
	int64_t now = util_mono_us();

	if (back_off)
		ev->retry_us = now + EVENTS_RETRY_US;
	metrics_event_publish(0);
	ev->unlogged++;
	if (now - ev->logged_us < EVENTS_LOG_EVERY_US)
		return;
	log_warn("events: publish to %.200s failed: %s (%llu failure(s) "
	    "since the last report); clients catch up with after=", chans,
	    why, (unsigned long long)ev->unlogged);
	ev->logged_us = now;
	ev->unlogged = 0;
}

/* POSTs one event: Nchan answers 201 (subscribers were there) or 202
 * (queued for none yet). Or, text NULL, DELETEs the channels: 200, or
 * 404 when there was none. */
static void
send_one(struct events *ev, const char *chans, const char *text, size_t len)
{
	CURL *c;
	CURLcode rc;
	long status = 0;
	char why[64];

	if (util_mono_us() < ev->retry_us) {
		failed(ev, chans, "the publisher failed lately; not tried", 0);
		return;
	}
	if ((c = handle(ev)) == NULL) {
		failed(ev, chans, "curl_easy_init failed", 0);
		return;
	}
	strbuf_reset(&ev->target);
	strbuf_adds(&ev->target, ev->url);
	strbuf_adds(&ev->target, chans);
	curl_easy_setopt(c, CURLOPT_URL, ev->target.buf);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, text ? NULL : "DELETE");
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, text ? text : "");
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	rc = curl_easy_perform(c);
	/* The first perform makes the handle's multi and its wakeup
	 * socketpair, which libcurl 7.88 opens without close-on-exec (its
	 * connection sockets go through open_cloexec): marked once, as
	 * every descriptor the app holds (issue 13: a notify_command child
	 * must inherit none). */
	if (!ev->fds_marked) {
		util_cloexec_all();
		ev->fds_marked = 1;
	}
	if (rc != CURLE_OK) {
		failed(ev, chans, curl_easy_strerror(rc),
		    rc == CURLE_OPERATION_TIMEDOUT);
		return;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (text == NULL ? status != 200 && status != 404 :
	    status != 201 && status != 202) {
		snprintf(why, sizeof(why), "HTTP status %ld", status);
		failed(ev, chans, why, 0);
		return;
	}
	metrics_event_publish(1);
}

/* Queues chans and text (NULL: delete the channels), sending what is
 * queued first when the queue is full. */
static void
enqueue(struct events *ev, const char *chans, const char *text, size_t len)
{
	struct pending *p;

	if (ev->nq == EVENTS_QUEUE_MAX)
		events_flush(ev);
	p = &ev->q[ev->nq++];
	if ((p->chans = strdup(chans)) == NULL)
		abort();
	p->text = NULL;
	p->len = len;
	if (text != NULL) {
		if ((p->text = malloc(len + 1)) == NULL)
			abort();
		memcpy(p->text, text, len);
		p->text[len] = '\0';
	}
}

void
events_emit_text(struct events *ev, const struct events_chans *c,
    const char *text, size_t len)
{
	if (ev != NULL && ev->enabled && c->n > 0)
		enqueue(ev, c->s, text, len);
}

void
events_kick_user(struct events *ev, int64_t user)
{
	struct events_chans c;

	if (ev == NULL || !ev->enabled)
		return;
	events_chans_init(&c);
	events_chans_add(&c, "user", user);
	enqueue(ev, c.s, NULL, 0);
}

void
events_emit(struct events *ev, const struct events_chans *c, json_t *j)
{
	char *text;

	if (j == NULL)
		return;
	if (ev != NULL && ev->enabled && c->n > 0 &&
	    (text = json_dumps(j, JSON_COMPACT)) != NULL) {
		events_emit_text(ev, c, text, strlen(text));
		free(text);
	}
	json_decref(j);
}

void
events_flush(struct events *ev)
{
	int i;

	if (ev == NULL)
		return;
	for (i = 0; i < ev->nq; i++) {
		send_one(ev, ev->q[i].chans, ev->q[i].text, ev->q[i].len);
		free(ev->q[i].chans);
		free(ev->q[i].text);
	}
	ev->nq = 0;
}

/* events: see events.h. */
#include "autoconf.h"

#include <sys/socket.h>

#include <poll.h>
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
	CURLM		*multi;		/* holds the one connection to nginx */
	CURL		*curl;
	struct curl_slist *headers;
	struct pending	 q[EVENTS_QUEUE_MAX];
	int		 nq;
	int64_t		 logged_us;
	uint64_t	 unlogged;	/* failures since the last log line */
	int64_t		 retry_us;	/* publisher failed: not before this */
	/* The publish in flight (curl in multi), its answer not read yet. */
	int		 busy;
	int		 busy_delete;	/* a DELETE: 200 or 404, not 201/202 */
	char		*busy_text;	/* its body (libcurl does not copy it) */
	size_t		 busy_len;	/* its body's length */
	int64_t		 busy_until_us;	/* given up after this */
	struct strbuf	 target;	/* its URL; the channels for the log */
};

/* What drive() waits for. */
enum until {
	UNTIL_DONE,	/* the answer read and counted */
	UNTIL_SENT	/* the whole request in the publisher's socket */
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
	if (ev->busy)
		curl_multi_remove_handle(ev->multi, ev->curl);
	free(ev->busy_text);
	if (ev->curl != NULL)
		curl_easy_cleanup(ev->curl);
	if (ev->multi != NULL)
		curl_multi_cleanup(ev->multi);
	curl_slist_free_all(ev->headers);
	strbuf_free(&ev->target);
	free(ev->url);
	free(ev->sock);
	free(ev);
}

/* The multi and easy handles with everything but the URL and body set,
 * made once: the multi keeps the connection to nginx open between
 * publishes. */
static CURL *
handle(struct events *ev)
{
	CURL *c;

	if (ev->curl != NULL)
		return ev->curl;
	if ((ev->multi = curl_multi_init()) == NULL)
		return NULL;
	if ((c = curl_easy_init()) == NULL) {
		curl_multi_cleanup(ev->multi);
		ev->multi = NULL;
		return NULL;
	}
	/* The multi's wakeup socketpair, which libcurl 7.88 opens without
	 * close-on-exec (its connection sockets go through open_cloexec):
	 * marked, as every descriptor the app holds (issue 13: a
	 * notify_command child must inherit none). */
	util_cloexec_all();
	ev->headers = curl_slist_append(ev->headers,
	    "Content-Type: application/json");
	ev->headers = curl_slist_append(ev->headers, "Accept: text/json");
	/* No "Expect: 100-continue" round trip for a bigger body. */
	ev->headers = curl_slist_append(ev->headers, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, ev->headers);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	/* No CURLOPT_TIMEOUT_MS: libcurl would count a publish whose answer
	 * is waiting in the socket as timed out when the request after it
	 * took longer than the timeout; drive() keeps its own deadline. */
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)ev->timeout_ms);
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

/* The channels of the publish in flight, for the log. */
static const char *
busy_chans(const struct events *ev)
{
	return ev->target.buf + strlen(ev->url);
}

/* Ends the publish in flight, with libcurl's result rc (or, timed_out,
 * given up by drive()), and counts it: Nchan answers a POST 201
 * (subscribers were there) or 202 (queued for none yet), a DELETE 200,
 * or 404 when there was no such channel. */
static void
done(struct events *ev, CURLcode rc, int timed_out)
{
	long status = 0;
	char why[64];

	curl_easy_getinfo(ev->curl, CURLINFO_RESPONSE_CODE, &status);
	/* Removed mid-transfer (timed out), the connection is closed. */
	curl_multi_remove_handle(ev->multi, ev->curl);
	ev->busy = 0;
	free(ev->busy_text);
	ev->busy_text = NULL;
	if (timed_out)
		failed(ev, busy_chans(ev), "timed out", 1);
	else if (rc != CURLE_OK)
		failed(ev, busy_chans(ev), curl_easy_strerror(rc),
		    rc == CURLE_OPERATION_TIMEDOUT);
	else if (ev->busy_delete ? status != 200 && status != 404 :
	    status != 201 && status != 202) {
		snprintf(why, sizeof(why), "HTTP status %ld", status);
		failed(ev, busy_chans(ev), why, 0);
	} else
		metrics_event_publish(1);
}

/*
 * Runs the publish in flight until it is done, or, until UNTIL_SENT,
 * until the whole request is in the publisher's socket (a DELETE, with
 * no body to count, until it is done); and with fd >= 0, only until fd
 * is readable. The answer waiting in the socket is read before the
 * deadline is looked at, so a publish answered while the process did
 * something else is not counted as timed out.
 */
static void
drive(struct events *ev, enum until until, int fd)
{
	struct curl_waitfd w;
	CURLMsg *m;
	curl_off_t up;
	int64_t left_us;
	int running, left;

	while (ev->busy) {
		if (curl_multi_perform(ev->multi, &running) != CURLM_OK) {
			done(ev, CURLE_FAILED_INIT, 0);
			return;
		}
		while ((m = curl_multi_info_read(ev->multi, &left)) != NULL)
			if (m->msg == CURLMSG_DONE && ev->busy)
				done(ev, m->data.result, 0);
		if (!ev->busy)
			return;
		if (until == UNTIL_SENT && ev->busy_len > 0 &&
		    curl_easy_getinfo(ev->curl, CURLINFO_SIZE_UPLOAD_T,
		    &up) == CURLE_OK && up == (curl_off_t)ev->busy_len)
			return;
		if ((left_us = ev->busy_until_us - util_mono_us()) <= 0) {
			done(ev, CURLE_OK, 1);
			return;
		}
		w.fd = fd;
		w.events = CURL_WAIT_POLLIN;
		w.revents = 0;
		(void)curl_multi_poll(ev->multi, fd >= 0 ? &w : NULL,
		    fd >= 0 ? 1 : 0, (int)(left_us / 1000) + 1, NULL);
		if (w.revents != 0)
			return;
	}
}

/* Starts one publish: a POST of text (malloc'd, taken) to the channels,
 * or, text NULL, a DELETE of them. Nothing may be in flight. */
static void
start(struct events *ev, const char *chans, char *text, size_t len)
{
	CURL *c;

	if (util_mono_us() < ev->retry_us) {
		failed(ev, chans, "the publisher failed lately; not tried", 0);
		free(text);
		return;
	}
	if ((c = handle(ev)) == NULL) {
		failed(ev, chans, "curl_easy_init failed", 0);
		free(text);
		return;
	}
	strbuf_reset(&ev->target);
	strbuf_adds(&ev->target, ev->url);
	strbuf_adds(&ev->target, chans);
	curl_easy_setopt(c, CURLOPT_URL, ev->target.buf);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, text ? NULL : "DELETE");
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, text ? text : "");
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	if (curl_multi_add_handle(ev->multi, c) != CURLM_OK) {
		failed(ev, chans, "curl_multi_add_handle failed", 0);
		free(text);
		return;
	}
	ev->busy = 1;
	ev->busy_text = text;
	ev->busy_delete = text == NULL;
	ev->busy_len = text ? len : 0;
	ev->busy_until_us = util_mono_us() + ev->timeout_ms * 1000;
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

/*
 * Sends the queue in order, one publish at a time over the one
 * connection: each waits for the answer to the one before it (HTTP/1.1
 * without pipelining; a second connection could let nginx read a later
 * event first). The last is left in flight after last.
 */
static void
send_queue(struct events *ev, enum until last)
{
	int i;

	drive(ev, UNTIL_DONE, -1);
	for (i = 0; i < ev->nq; i++) {
		start(ev, ev->q[i].chans, ev->q[i].text, ev->q[i].len);
		drive(ev, i == ev->nq - 1 ? last : UNTIL_DONE, -1);
		free(ev->q[i].chans);
	}
	ev->nq = 0;
}

void
events_flush(struct events *ev)
{
	if (ev != NULL && ev->enabled)
		send_queue(ev, UNTIL_DONE);
}

void
events_send(struct events *ev)
{
	if (ev != NULL && ev->enabled && ev->nq > 0)
		send_queue(ev, UNTIL_SENT);
}

void
events_wait(struct events *ev, int fd)
{
	if (ev != NULL && ev->busy)
		drive(ev, UNTIL_DONE, fd);
}

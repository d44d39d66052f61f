/*
 * events: publishing live events to nginx's Nchan module (API.md section
 * 8). A change that committed queues its event here; the queue is sent
 * when the handler is done, just before its answer leaves (serve_handle,
 * events_send before FCGX_Finish_r), or, in the worker, after each batch
 * and task (events_flush). Each event is one POST of its JSON text to the
 * Nchan publisher location, events_publish_url followed by the channel
 * ids joined by ',' (Nchan's nchan_channel_id_split_delimiter), over the
 * unix socket events_socket or, when that is empty, over TCP.
 *
 * One libcurl multi and easy handle per process, reused, so that the one
 * connection to nginx stays open between publishes; one publish at a
 * time on it, in the order queued. The pool does not wait for Nchan's
 * answer to its last publish: events_send returns once the request is in
 * nginx's socket, and the answer is read while the process waits for its
 * next request (events_wait) or before its next publish (docs/DESIGN.md,
 * "Publishing events", says why the order still holds). Timeouts are
 * short, and after one the publisher is left alone for a second; a
 * publish that fails is logged (at most once a second) and counted in
 * /metrics, never reported to the caller: clients catch up with after=
 * (section 8).
 *
 * Channels are "room:ID", "ticket:ID" and "user:ID" (the user's own
 * channel), without key_prefix: several sites that share one Redis under
 * Nchan keep apart with nchan_redis_namespace instead (README).
 */
#ifndef CHATDESK_EVENTS_H
#define CHATDESK_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define EVENTS_CHANS_MAX	4096	/* 101 channel ids of 25 bytes, and more */

/* A set of channel ids, joined by ','. */
struct events_chans {
	char	s[EVENTS_CHANS_MAX];
	size_t	len;
	int	n;
};

void events_chans_init(struct events_chans *);
/* Adds kind:id (kind "room", "ticket" or "user") unless id is 0 or it is
 * in the set already. */
void events_chans_add(struct events_chans *, const char *kind, int64_t id);
/* Adds a channel without an id (EVENTS_CHAN_STAFF) unless it is there. */
void events_chans_add_name(struct events_chans *, const char *name);

/* Every agent's and admin's subscription includes this channel, and every
 * ticket.updated and interaction.created goes to it too: an inbox learns
 * of a ticket nobody is assigned to (README, "Where the code differs
 * from the contract"). A customer's subscription never includes it. */
#define EVENTS_CHAN_STAFF	"staff"

struct events;

/*
 * A publisher for url (empty: publishing is off, every call a no-op) over
 * the unix socket path sock (empty: TCP). Connects on first use only.
 */
struct events *events_new(const char *url, const char *sock,
    long long timeout_ms);
void events_free(struct events *);

/* Queues the event (a JSON object; the reference is stolen) for the
 * channels. Sent by events_send() or events_flush(), or at once when the
 * queue is full. */
void events_emit(struct events *, const struct events_chans *, json_t *ev);
/* The same with the event's JSON text already made. */
void events_emit_text(struct events *, const struct events_chans *,
    const char *text, size_t len);

/*
 * Ends every subscription of user now: Nchan deletes the user's own
 * channel, and each connection subscribed to it, whatever else it
 * carries, closes (API.md section 8: a revoked token or a changed role
 * loses its subscriptions). Clients that may still subscribe reconnect
 * and are authorized again. Queued like an event.
 */
void events_kick_user(struct events *, int64_t user);

/* Sends every queued event, in order, and waits for every answer. */
void events_flush(struct events *);

/*
 * Sends every queued event, in order, and returns once the last one's
 * request is wholly in nginx's socket, its answer left to read: the
 * pool's, just before its answer leaves. Without queued events, nothing.
 */
void events_send(struct events *);

/*
 * Reads the answer to a publish still in flight, if there is one, but
 * waits no longer than until fd (the FastCGI listening socket) is
 * readable: an idle process counts its publishes at once, a busy one at
 * its next publish.
 */
void events_wait(struct events *, int fd);

#endif

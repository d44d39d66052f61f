/*
 * bench/fanout.c: live-event fan-out, for bench/events.sh (not a test).
 *
 *   fanout PORT TOKEN ROOM SUBSCRIBERS POSTS_PER_S SECONDS
 *
 * Opens SUBSCRIBERS EventSource connections to nginx
 * (GET /api/v1/events?rooms=ROOM, one epoll loop), waits until each is
 * streaming, then a second thread posts POSTS_PER_S messages a second for
 * SECONDS and notes when each POST's answer arrived. Every
 * message.created a subscriber reads is matched to its post by message id;
 * delivery latency is the time from the POST's answer to the read (0 when
 * the event came first: chatdesk publishes just before it answers), and
 * also from the POST's send, an upper bound that includes the post.
 * Prints one line: subscribers, posts, deliveries expected and seen,
 * subscribers that missed any, p50/p99/max latency in ms.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_POSTS	(1 << 16)

struct sub {
	int	 fd;
	int	 streaming;	/* the response head arrived */
	long	 got;		/* message.created read */
	char	 buf[65536];
	size_t	 len;
};

static int port, room, nsubs, rate, seconds;
static const char *token;
static int64_t base_id = -1;			/* first message id posted */
static int64_t answer_us[MAX_POSTS];		/* by id - base_id */
static int64_t sent_us[MAX_POSTS];		/* when its POST was sent */
static volatile int nposted, posting_done;
static int64_t *lat;				/* one per delivery */
static int64_t *lat_sent;			/* the same from the send */
static long nlat, maxlat;

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
dial(void)
{
	struct sockaddr_in a;
	int fd, one = 1;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One POST on a fresh connection; returns the new message's id or -1. */
static int64_t
post_one(int i)
{
	char req[1024], resp[8192], body[128];
	ssize_t n;
	size_t got = 0;
	char *p;
	int fd;

	snprintf(body, sizeof(body), "{\"body\":\"fan-out message %d\"}", i);
	snprintf(req, sizeof(req), "POST /api/v1/rooms/%d/messages HTTP/1.1\r\n"
	    "Host: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s", room, token, strlen(body), body);
	if ((fd = dial()) == -1)
		return -1;
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		close(fd);
		return -1;
	}
	while (got < sizeof(resp) - 1 &&
	    (n = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0) {
		got += (size_t)n;
		resp[got] = '\0';
		if ((p = strstr(resp, "\r\n\r\n{\"id\":")) != NULL &&
		    strchr(p + 10, ','))
			break;
	}
	close(fd);
	resp[got] = '\0';
	if ((p = strstr(resp, "\r\n\r\n{\"id\":")) == NULL)
		return -1;
	return strtoll(p + 10, NULL, 10);
}

static void *
poster(void *arg)
{
	int64_t start = now_us(), id, t;
	int i, total = rate * seconds;

	int64_t sent;

	for (i = 0; i < total && i < MAX_POSTS; i++) {
		t = start + (int64_t)i * 1000000 / rate;
		while (now_us() < t)
			usleep(200);
		sent = now_us();
		if ((id = post_one(i)) < 0) {
			fprintf(stderr, "fanout: post %d failed\n", i);
			continue;
		}
		t = now_us();
		if (base_id < 0)
			base_id = id;
		if (id - base_id >= 0 && id - base_id < MAX_POSTS) {
			__atomic_store_n(&sent_us[id - base_id], sent,
			    __ATOMIC_RELEASE);
			__atomic_store_n(&answer_us[id - base_id], t,
			    __ATOMIC_RELEASE);
		}
		__atomic_add_fetch(&nposted, 1, __ATOMIC_RELEASE);
	}
	posting_done = 1;
	return NULL;
}

/* Reads what arrived; counts each message.created and its latency. */
static int
on_readable(struct sub *s)
{
	static const char mark[] = "\"type\":\"message.created\"";
	ssize_t n;
	char *line, *nl, *p;
	int64_t id, t, ans, snt;

	while ((n = read(s->fd, s->buf + s->len, sizeof(s->buf) - 1 -
	    s->len)) > 0) {
		t = now_us();
		s->len += (size_t)n;
		s->buf[s->len] = '\0';
		if (!s->streaming && strstr(s->buf, "\r\n\r\n") != NULL) {
			if (strncmp(s->buf, "HTTP/1.1 200", 12) != 0) {
				fprintf(stderr, "fanout: subscribe: %.60s\n",
				    s->buf);
				return -1;
			}
			s->streaming = 1;
		}
		line = s->buf;
		while ((nl = strchr(line, '\n')) != NULL) {
			*nl = '\0';
			if (strncmp(line, "data: ", 6) == 0 &&
			    strstr(line, mark) != NULL &&
			    (p = strstr(line, "\"message\":{\"id\":")) != NULL) {
				id = strtoll(p + 16, NULL, 10);
				s->got++;
				ans = base_id >= 0 && id - base_id >= 0 &&
				    id - base_id < MAX_POSTS ?
				    __atomic_load_n(&answer_us[id - base_id],
				    __ATOMIC_ACQUIRE) : 0;
				snt = ans > 0 ? __atomic_load_n(
				    &sent_us[id - base_id], __ATOMIC_ACQUIRE) : 0;
				if (nlat < maxlat) {
					/* Not answered yet: counted from the
					 * send, as an upper bound. */
					lat_sent[nlat] = snt > 0 ? t - snt : 0;
					lat[nlat++] = ans > 0 && t > ans ?
					    t - ans : 0;
				}
			}
			line = nl + 1;
		}
		s->len -= (size_t)(line - s->buf);
		memmove(s->buf, line, s->len);
	}
	if (n == 0)
		return -1;
	return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct epoll_event ev, evs[256];
	struct sub *subs;
	pthread_t th;
	char req[1024];
	int ep, i, n, streaming = 0, missed = 0;
	int64_t deadline, idle_until = 0;
	long expected;

	if (argc != 7) {
		fprintf(stderr, "usage: fanout PORT TOKEN ROOM SUBSCRIBERS "
		    "POSTS_PER_S SECONDS\n");
		return 64;
	}
	port = atoi(argv[1]);
	token = argv[2];
	room = atoi(argv[3]);
	nsubs = atoi(argv[4]);
	rate = atoi(argv[5]);
	seconds = atoi(argv[6]);
	maxlat = (long)nsubs * rate * seconds + 1;
	if ((subs = calloc((size_t)nsubs, sizeof(*subs))) == NULL ||
	    (lat = calloc((size_t)maxlat, sizeof(*lat))) == NULL ||
	    (lat_sent = calloc((size_t)maxlat, sizeof(*lat))) == NULL ||
	    (ep = epoll_create1(0)) == -1)
		return 1;
	snprintf(req, sizeof(req), "GET /api/v1/events?rooms=%d HTTP/1.1\r\n"
	    "Host: 127.0.0.1\r\nAccept: text/event-stream\r\n"
	    "Authorization: Bearer %s\r\n\r\n", room, token);
	for (i = 0; i < nsubs; i++) {
		if ((subs[i].fd = dial()) == -1 ||
		    write(subs[i].fd, req, strlen(req)) != (ssize_t)strlen(req)) {
			fprintf(stderr, "fanout: subscriber %d: %s\n", i,
			    strerror(errno));
			return 1;
		}
		fcntl(subs[i].fd, F_SETFL, O_NONBLOCK);
		ev.events = EPOLLIN;
		ev.data.ptr = &subs[i];
		epoll_ctl(ep, EPOLL_CTL_ADD, subs[i].fd, &ev);
		/* 500 a second: each is an authorization and a presence
		 * callback in the pool, which must not queue past nginx's
		 * fastcgi_connect_timeout. */
		if (i % 50 == 49)
			usleep(100000);
	}
	deadline = now_us() + 60 * 1000000LL;
	while (streaming < nsubs && now_us() < deadline) {
		n = epoll_wait(ep, evs, 256, 100);
		for (i = 0; i < n; i++) {
			struct sub *s = evs[i].data.ptr;
			int was = s->streaming;

			if (on_readable(s) == -1)
				return 1;
			streaming += !was && s->streaming;
		}
	}
	if (streaming < nsubs) {
		fprintf(stderr, "fanout: only %d of %d subscribers streaming\n",
		    streaming, nsubs);
		return 1;
	}
	sleep(1);	/* the presence callbacks settle */
	nlat = 0;
	for (i = 0; i < nsubs; i++)
		subs[i].got = 0;
	pthread_create(&th, NULL, poster, NULL);
	for (;;) {
		n = epoll_wait(ep, evs, 256, 100);
		for (i = 0; i < n; i++)
			if (on_readable(evs[i].data.ptr) == -1) {
				fprintf(stderr, "fanout: a subscriber ended\n");
				return 1;
			}
		if (posting_done && idle_until == 0)
			idle_until = now_us() + 2000000;	/* stragglers */
		if (idle_until != 0 && now_us() > idle_until)
			break;
	}
	pthread_join(th, NULL);
	expected = (long)nposted * nsubs;
	for (i = 0; i < nsubs; i++)
		missed += subs[i].got != nposted;
	qsort(lat, (size_t)nlat, sizeof(*lat), cmp64);
	qsort(lat_sent, (size_t)nlat, sizeof(*lat), cmp64);
	printf("subscribers=%d posts=%d deliveries_expected=%ld "
	    "deliveries=%ld subscribers_missing_some=%d p50_ms=%.2f "
	    "p99_ms=%.2f max_ms=%.2f p99_from_send_ms=%.2f\n", nsubs, nposted,
	    expected, nlat, missed, nlat ? lat[nlat / 2] / 1000.0 : 0,
	    nlat ? lat[(long)(nlat * 0.99)] / 1000.0 : 0,
	    nlat ? lat[nlat - 1] / 1000.0 : 0,
	    nlat ? lat_sent[(long)(nlat * 0.99)] / 1000.0 : 0);
	return 0;
}

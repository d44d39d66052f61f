/* metrics: see metrics.h. */
#include "autoconf.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gcommit.h"
#include "log.h"
#include "metrics.h"
#include "task.h"

#define M_MAGIC		0x63646d6574726963ULL	/* "cdmetric" */
#define M_VERSION	3
#define M_SLOTS		128	/* pool processes tracked for the gauges */
#define M_ROUTES	(METRICS_ROUTES_MAX + 1)	/* + the unmatched */
#define M_NBUCKETS	12

static const int m_statuses[] = {
	200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 415, 429, 500, 503
};
#define M_NSTATUS	(sizeof(m_statuses) / sizeof(m_statuses[0]) + 1)

static const double m_buckets[M_NBUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5
};

#define M_NTASKTYPES	(TASK_TYPE__MAX + 1)	/* + "unknown" */
static const char *const m_task_results[MTASK__MAX] = {
	"done", "retried", "dead"
};

struct metrics_shm {
	uint64_t	magic;
	uint64_t	version;
	uint64_t	http[M_ROUTES][M_NSTATUS];
	uint64_t	hist[M_ROUTES][M_NBUCKETS];	/* per bucket, not cumulative */
	uint64_t	hist_count[M_ROUTES];
	uint64_t	hist_sum_us[M_ROUTES];
	uint64_t	cache[KEY_CACHE__MAX][3];
	uint64_t	cache_forged[KEY_CACHE__MAX];
	uint64_t	redis_errors;
	uint64_t	ratelimit_rejections;
	uint64_t	ratelimit_unenforced;
	uint64_t	tasks[M_NTASKTYPES][MTASK__MAX];
	uint64_t	dead_dropped;
	uint64_t	pending_gen;
	uint64_t	session_gen;
	uint64_t	max_reached;
	uint64_t	slow_requests;
	/* Not a counter: the group commit's state (gcommit.h), here
	 * because every process that writes the database maps this page. */
	struct gcommit	gcommit;
	/* One per pool process: its pid (0: free) and 1 while it handles a
	 * request. A process killed without clean-up leaves its slot; the
	 * slot is freed when its pid is found dead. */
	struct {
		uint32_t	pid;
		uint32_t	busy;
	}		slots[M_SLOTS];
	/* Appended: an older file grows with zeros, keeping the rest. */
	uint64_t	events_published;
	uint64_t	events_publish_errors;
	uint64_t	events_subscriptions;
	uint64_t	events_refusals;
};

static struct metrics_shm local;
static const struct metrics_label *m_labels;
static size_t m_nlabels;
static struct metrics_shm *m = &local;
static int m_slot = -1;		/* ours in m->slots, or -1 */

#define ADD(field, n)	__atomic_fetch_add(&(field), (n), __ATOMIC_RELAXED)
#define GET(field)	__atomic_load_n(&(field), __ATOMIC_RELAXED)

/*
 * The file is made to belong to the database's owner, mode 0660, by
 * whichever program opens it first: a chatdeskctl run by root must not
 * leave a file the pool (the database's owner) cannot open. Run as root,
 * the owner of a file left by an older version is mended too.
 */
static void
metrics_fix_owner(int fd, const char *db_path, const struct stat *st)
{
	struct stat dbst;

	if (geteuid() != 0 || stat(db_path, &dbst) == -1)
		return;
	if ((st->st_uid != dbst.st_uid || st->st_gid != dbst.st_gid) &&
	    fchown(fd, dbst.st_uid, dbst.st_gid) == -1)
		log_warn("metrics: cannot give %s-metrics to the database's "
		    "owner: %s", db_path, strerror(errno));
}

int
metrics_open(const char *db_path)
{
	char path[4096];
	struct stat st;
	void *p;
	int fd;

	snprintf(path, sizeof(path), "%s-metrics", db_path);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0660)) == -1 ||
	    fstat(fd, &st) == -1) {
		log_warn("metrics: cannot open %s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	metrics_fix_owner(fd, db_path, &st);
	/* Grown with zeros: a new file is all counters at zero. */
	if ((size_t)st.st_size < sizeof(struct metrics_shm) &&
	    ftruncate(fd, sizeof(struct metrics_shm)) == -1) {
		log_warn("metrics: cannot grow %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	p = mmap(NULL, sizeof(struct metrics_shm), PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		log_warn("metrics: cannot map %s: %s", path, strerror(errno));
		return -1;
	}
	m = p;
	/* A file of another layout starts over (counters are resettable by
	 * Prometheus' rules: a drop reads as a restart). */
	if (m->magic != M_MAGIC || m->version != M_VERSION) {
		memset(m, 0, sizeof(*m));
		m->magic = M_MAGIC;
		m->version = M_VERSION;
	}
	return 0;
}

/* 1 if pid names a live process (ours to signal or not). */
static int
pid_alive(uint32_t pid)
{
	return pid != 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

void
metrics_pool_join(void)
{
	uint32_t pid = (uint32_t)getpid(), old;
	int i;

	for (i = 0; i < M_SLOTS && m_slot == -1; i++) {
		old = __atomic_load_n(&m->slots[i].pid, __ATOMIC_ACQUIRE);
		/* A free slot, or one a killed process left. */
		if ((old == 0 || !pid_alive(old)) &&
		    __atomic_compare_exchange_n(&m->slots[i].pid, &old, pid, 0,
		    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			__atomic_store_n(&m->slots[i].busy, 0, __ATOMIC_RELEASE);
			m_slot = i;
		}
	}
	if (m_slot == -1)
		log_warn("metrics: more than %d pool processes; this one is "
		    "left out of the busy/idle gauges", M_SLOTS);
}

void
metrics_pool_leave(void)
{
	if (m_slot == -1)
		return;
	__atomic_store_n(&m->slots[m_slot].busy, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&m->slots[m_slot].pid, 0, __ATOMIC_RELEASE);
	m_slot = -1;
}

void
metrics_busy(int busy)
{
	int i, live = 0, nbusy = 0;
	uint32_t pid;

	if (m_slot == -1)
		return;
	__atomic_store_n(&m->slots[m_slot].busy, busy ? 1 : 0,
	    __ATOMIC_RELEASE);
	if (!busy)
		return;
	/* php-fpm's "max children reached": this request took the last
	 * idle process. Slots of dead processes are not told apart here
	 * (no system call per request); the scrape frees them. */
	for (i = 0; i < M_SLOTS; i++) {
		if ((pid = __atomic_load_n(&m->slots[i].pid,
		    __ATOMIC_ACQUIRE)) == 0)
			continue;
		live++;
		if (__atomic_load_n(&m->slots[i].busy, __ATOMIC_ACQUIRE))
			nbusy++;
	}
	if (nbusy == live)
		ADD(m->max_reached, 1);
}

size_t
metrics_pool_pids(long *pids, size_t max)
{
	uint32_t pid;
	size_t n = 0;
	int i;

	for (i = 0; i < M_SLOTS; i++) {
		pid = __atomic_load_n(&m->slots[i].pid, __ATOMIC_ACQUIRE);
		if (pid_alive(pid) && n < max)
			pids[n++] = (long)pid;
	}
	return n;
}

void
metrics_slow_request(void)
{
	ADD(m->slow_requests, 1);
}

struct gcommit *
metrics_gcommit(void)
{
	return &m->gcommit;
}

int
metrics_shared(void)
{
	return m != &local;
}

void
metrics_close(void)
{
	metrics_pool_leave();
	if (m != &local)
		munmap(m, sizeof(*m));
	m = &local;
}

static size_t
status_index(int status)
{
	size_t i;

	for (i = 0; i < M_NSTATUS - 1; i++)
		if (m_statuses[i] == status)
			return i;
	return M_NSTATUS - 1;
}

void
metrics_request(int route, int status, int64_t micros)
{
	size_t r = route < 0 || route >= M_ROUTES - 1 ? M_ROUTES - 1 :
	    (size_t)route;
	double s = (double)micros / 1e6;
	int b;

	ADD(m->http[r][status_index(status)], 1);
	for (b = 0; b < M_NBUCKETS; b++)
		if (s <= m_buckets[b]) {
			ADD(m->hist[r][b], 1);
			break;
		}
	ADD(m->hist_count[r], 1);
	ADD(m->hist_sum_us[r], micros > 0 ? (uint64_t)micros : 0);
}

void
metrics_cache(enum key_family f, int result)
{
	if (f < KEY_CACHE__MAX && result >= 0 && result < 3)
		ADD(m->cache[f][result], 1);
}

void
metrics_cache_forged(enum key_family f)
{
	if (f < KEY_CACHE__MAX)
		ADD(m->cache_forged[f], 1);
}

void
metrics_redis_error(void)
{
	ADD(m->redis_errors, 1);
}

void
metrics_ratelimit_rejection(void)
{
	ADD(m->ratelimit_rejections, 1);
}

void
metrics_ratelimit_unenforced(void)
{
	ADD(m->ratelimit_unenforced, 1);
}

void
metrics_task(int type, enum metrics_task_result res)
{
	size_t t = type >= 0 && type < TASK_TYPE__MAX ? (size_t)type :
	    TASK_TYPE__MAX;

	ADD(m->tasks[t][res], 1);
}

void
metrics_dead_dropped(uint64_t n)
{
	ADD(m->dead_dropped, n);
}

uint64_t
metrics_pending_gen(void)
{
	return __atomic_load_n(&m->pending_gen, __ATOMIC_ACQUIRE);
}

void
metrics_pending_bump(void)
{
	__atomic_fetch_add(&m->pending_gen, 1, __ATOMIC_RELEASE);
}

uint64_t
metrics_session_gen(void)
{
	return __atomic_load_n(&m->session_gen, __ATOMIC_ACQUIRE);
}

void
metrics_session_bump(void)
{
	__atomic_fetch_add(&m->session_gen, 1, __ATOMIC_RELEASE);
}

void
metrics_event_publish(int ok)
{
	if (ok)
		ADD(m->events_published, 1);
	else
		ADD(m->events_publish_errors, 1);
}

void
metrics_event_subscription(void)
{
	ADD(m->events_subscriptions, 1);
}

void
metrics_event_refusal(void)
{
	ADD(m->events_refusals, 1);
}

void
metrics_cache_totals(uint64_t *hits, uint64_t *misses)
{
	int f;

	*hits = *misses = 0;
	for (f = 0; f < KEY_CACHE__MAX; f++) {
		*hits += GET(m->cache[f][0]);
		*misses += GET(m->cache[f][1]);
	}
}

static void
route_labels(const struct metrics_label *routes, size_t n, size_t r,
    const char **route, const char **method)
{
	if (r < n) {
		*route = routes[r].route;
		*method = routes[r].method;
	} else {
		*route = "unmatched";
		*method = "any";
	}
}

void
metrics_routes(const struct metrics_label *routes, size_t n)
{
	m_labels = routes;
	m_nlabels = n < METRICS_ROUTES_MAX ? n : METRICS_ROUTES_MAX;
}

/* The pool gauges, counted from the slots; a slot whose process died
 * without leaving is freed here, so the gauges heal at the next scrape. */
static void
render_pool(struct strbuf *o)
{
	uint32_t pid;
	unsigned long long busy = 0, idle = 0;
	int i;

	for (i = 0; i < M_SLOTS; i++) {
		if ((pid = __atomic_load_n(&m->slots[i].pid,
		    __ATOMIC_ACQUIRE)) == 0)
			continue;
		if (!pid_alive(pid)) {
			/* Freed only if it still holds the dead pid. */
			if (__atomic_compare_exchange_n(&m->slots[i].pid, &pid,
			    0, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
				__atomic_store_n(&m->slots[i].busy, 0,
				    __ATOMIC_RELEASE);
			continue;
		}
		if (__atomic_load_n(&m->slots[i].busy, __ATOMIC_ACQUIRE))
			busy++;
		else
			idle++;
	}
	strbuf_printf(o, "# HELP chatdesk_build_info The running version.\n"
	    "# TYPE chatdesk_build_info gauge\n"
	    "chatdesk_build_info{version=\"%s\"} 1\n"
	    "# HELP chatdesk_pool_processes Pool processes by state: busy "
	    "(handling a request) or idle.\n"
	    "# TYPE chatdesk_pool_processes gauge\n"
	    "chatdesk_pool_processes{state=\"busy\"} %llu\n"
	    "chatdesk_pool_processes{state=\"idle\"} %llu\n"
	    "# HELP chatdesk_pool_max_reached_total Requests that took the last "
	    "idle pool process (php-fpm's max children reached).\n"
	    "# TYPE chatdesk_pool_max_reached_total counter\n"
	    "chatdesk_pool_max_reached_total %llu\n"
	    "# HELP chatdesk_slow_requests_total Requests slower than "
	    "slow_request_ms.\n"
	    "# TYPE chatdesk_slow_requests_total counter\n"
	    "chatdesk_slow_requests_total %llu\n", PACKAGE_VERSION, busy, idle,
	    (unsigned long long)GET(m->max_reached),
	    (unsigned long long)GET(m->slow_requests));
}

void
metrics_render(struct strbuf *o)
{
	const struct metrics_label *routes = m_labels;
	size_t nroutes = m_nlabels;
	static const char *const results[3] = { "hit", "miss", "bypass" };
	const char *route, *method;
	uint64_t v, cum;
	size_t r, s;
	int b, f, t;

	strbuf_adds(o, "# HELP chatdesk_http_requests_total Requests answered, "
	    "by route, method and status.\n"
	    "# TYPE chatdesk_http_requests_total counter\n");
	for (r = 0; r < M_ROUTES; r++) {
		if (r >= nroutes && r != M_ROUTES - 1)
			continue;
		route_labels(routes, nroutes, r, &route, &method);
		for (s = 0; s < M_NSTATUS; s++) {
			if ((v = GET(m->http[r][s])) == 0)
				continue;
			if (s < M_NSTATUS - 1)
				strbuf_printf(o, "chatdesk_http_requests_total{"
				    "route=\"%s\",method=\"%s\",status=\"%d\"} "
				    "%llu\n", route, method, m_statuses[s],
				    (unsigned long long)v);
			else
				strbuf_printf(o, "chatdesk_http_requests_total{"
				    "route=\"%s\",method=\"%s\",status=\"other\"} "
				    "%llu\n", route, method, (unsigned long long)v);
		}
	}
	strbuf_adds(o, "# HELP chatdesk_http_request_duration_seconds Time "
	    "from the request's arrival in the app to its answer.\n"
	    "# TYPE chatdesk_http_request_duration_seconds histogram\n");
	for (r = 0; r < M_ROUTES; r++) {
		if ((r >= nroutes && r != M_ROUTES - 1) ||
		    GET(m->hist_count[r]) == 0)
			continue;
		route_labels(routes, nroutes, r, &route, &method);
		cum = 0;
		for (b = 0; b < M_NBUCKETS; b++) {
			cum += GET(m->hist[r][b]);
			strbuf_printf(o, "chatdesk_http_request_duration_seconds_"
			    "bucket{route=\"%s\",method=\"%s\",le=\"%g\"} %llu\n",
			    route, method, m_buckets[b], (unsigned long long)cum);
		}
		v = GET(m->hist_count[r]);
		/* +Inf is the count, so buckets always sum to it. */
		strbuf_printf(o, "chatdesk_http_request_duration_seconds_bucket{"
		    "route=\"%s\",method=\"%s\",le=\"+Inf\"} %llu\n", route,
		    method, (unsigned long long)v);
		strbuf_printf(o, "chatdesk_http_request_duration_seconds_sum{"
		    "route=\"%s\",method=\"%s\"} %.6f\n", route, method,
		    (double)GET(m->hist_sum_us[r]) / 1e6);
		strbuf_printf(o, "chatdesk_http_request_duration_seconds_count{"
		    "route=\"%s\",method=\"%s\"} %llu\n", route, method,
		    (unsigned long long)v);
	}
	strbuf_adds(o, "# HELP chatdesk_cache_requests_total Cache reads by "
	    "key family and result.\n"
	    "# TYPE chatdesk_cache_requests_total counter\n");
	for (f = 0; f < KEY_CACHE__MAX; f++)
		for (s = 0; s < 3; s++)
			strbuf_printf(o, "chatdesk_cache_requests_total{family="
			    "\"%s\",result=\"%s\"} %llu\n", keys_families[f].label,
			    results[s], (unsigned long long)GET(m->cache[f][s]));
	strbuf_adds(o, "# HELP chatdesk_cache_forged_total Cached values "
	    "that failed their MAC (not written by chatdesk), by key family; "
	    "each was read as a miss.\n"
	    "# TYPE chatdesk_cache_forged_total counter\n");
	for (f = 0; f < KEY_CACHE__MAX; f++)
		strbuf_printf(o, "chatdesk_cache_forged_total{family=\"%s\"} "
		    "%llu\n", keys_families[f].label,
		    (unsigned long long)GET(m->cache_forged[f]));
	strbuf_printf(o, "# HELP chatdesk_redis_errors_total Failed Redis "
	    "commands and connections.\n"
	    "# TYPE chatdesk_redis_errors_total counter\n"
	    "chatdesk_redis_errors_total %llu\n",
	    (unsigned long long)GET(m->redis_errors));
	strbuf_adds(o, "# HELP chatdesk_tasks_total Tasks the worker finished, "
	    "by type and result.\n# TYPE chatdesk_tasks_total counter\n");
	for (t = 0; t < M_NTASKTYPES; t++)
		for (s = 0; s < MTASK__MAX; s++)
			strbuf_printf(o, "chatdesk_tasks_total{type=\"%s\","
			    "result=\"%s\"} %llu\n", t < TASK_TYPE__MAX ? task_names[t] :
			    "unknown",
			    m_task_results[s],
			    (unsigned long long)GET(m->tasks[t][s]));
	strbuf_printf(o, "# HELP chatdesk_ratelimit_rejections_total Posts "
	    "refused with 429.\n"
	    "# TYPE chatdesk_ratelimit_rejections_total counter\n"
	    "chatdesk_ratelimit_rejections_total %llu\n"
	    "# HELP chatdesk_dead_tasks_dropped_total Dead tasks dropped "
	    "because tasks:failed held dead_max.\n"
	    "# TYPE chatdesk_dead_tasks_dropped_total counter\n"
	    "chatdesk_dead_tasks_dropped_total %llu\n"
	    "# HELP chatdesk_ratelimit_unenforced_total Posts not counted "
	    "because Redis was down.\n"
	    "# TYPE chatdesk_ratelimit_unenforced_total counter\n"
	    "chatdesk_ratelimit_unenforced_total %llu\n",
	    (unsigned long long)GET(m->ratelimit_rejections),
	    (unsigned long long)GET(m->dead_dropped),
	    (unsigned long long)GET(m->ratelimit_unenforced));
	strbuf_printf(o, "# HELP chatdesk_events_published_total Events "
	    "published to Nchan.\n"
	    "# TYPE chatdesk_events_published_total counter\n"
	    "chatdesk_events_published_total %llu\n"
	    "# HELP chatdesk_events_publish_errors_total Events that could "
	    "not be published (clients catch up with after=).\n"
	    "# TYPE chatdesk_events_publish_errors_total counter\n"
	    "chatdesk_events_publish_errors_total %llu\n"
	    "# HELP chatdesk_events_subscriptions_total Subscriptions "
	    "authorized and handed to Nchan.\n"
	    "# TYPE chatdesk_events_subscriptions_total counter\n"
	    "chatdesk_events_subscriptions_total %llu\n"
	    "# HELP chatdesk_events_refusals_total Subscriptions and event "
	    "tickets refused (401, 404).\n"
	    "# TYPE chatdesk_events_refusals_total counter\n"
	    "chatdesk_events_refusals_total %llu\n",
	    (unsigned long long)GET(m->events_published),
	    (unsigned long long)GET(m->events_publish_errors),
	    (unsigned long long)GET(m->events_subscriptions),
	    (unsigned long long)GET(m->events_refusals));
	render_pool(o);
}

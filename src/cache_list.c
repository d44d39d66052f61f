/*
 * cache_list: the room list messages:room:{id} in Redis (API.md section
 * 4), newest first, capped at room_cache_size.
 *
 * The list invariant: a cached read returns exactly the newest messages
 * SQLite holds, in id order. Two races are closed by design, in Lua:
 *  - pushes from several processes arriving out of id order: the push
 *    script inserts by id (and ignores an id already present);
 *  - a rebuild that read SQLite before a concurrent post committed: the
 *    rebuild holds the lease taken at the miss (cache.c's protocol); a
 *    post that finds no list deletes the lease, and the rebuild stores
 *    only if its lease survived.
 * A push that fails deletes the list (or leaves that to the replay of
 * failed invalidations), so a gap is never cached.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "cache_int.h"
#include "config.h"
#include "metrics.h"
#include "rconn.h"

/*
 * Pushes one message (ARGV[2], whose text starts {"id":N,) on a list kept
 * newest first, capped at ARGV[3], renewing its TTL (ARGV[4]). ARGV[5] is
 * the id of the room's message just before this one, read in the same
 * transaction as the insert (0: none).
 *  - No list: a rebuild may be in flight that read SQLite before this
 *    message committed; its lease is deleted so that it cannot store.
 *  - The list's head is that previous message (or there is none): the
 *    list stays the contiguous newest-first run SQLite holds.
 *  - Otherwise the previous message's push has not arrived yet (two
 *    processes pushed out of order): pushing now would show a gap, so the
 *    list is deleted and the next read rebuilds it from SQLite.
 * Ids are compared as strings: 64-bit ids never pass through Lua doubles.
 */
static struct rscript push_script = { .src =
	"local function idof(v) return string.match(v, '^{\"id\":(%d+)') end\n"
	"if redis.call('EXISTS', KEYS[1]) == 0 then\n"
	"  redis.call('DEL', KEYS[2])\n"
	"  return 0\n"
	"end\n"
	"local head = redis.call('LINDEX', KEYS[1], 0)\n"
	"local hid = head and idof(head)\n"
	"if hid == ARGV[1] then return 0 end\n"
	"if ARGV[5] ~= '0' and hid ~= ARGV[5] then\n"
	"  for _, v in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do\n"
	"    if idof(v) == ARGV[1] then return 0 end\n"
	"  end\n"
	"  redis.call('DEL', KEYS[1], KEYS[2])\n"
	"  return 2\n"
	"end\n"
	"redis.call('LPUSH', KEYS[1], ARGV[2])\n"
	"redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[3]) - 1)\n"
	"redis.call('EXPIRE', KEYS[1], ARGV[4])\n"
	"return 1\n"
};

/* A rebuild stores its list only if its lease (taken at the miss)
 * survived every post since. */
static struct rscript rebuild_script = { .src =
	"if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end\n"
	"redis.call('DEL', KEYS[1])\n"
	"if #ARGV > 2 then\n"
	"  redis.call('RPUSH', KEYS[1], unpack(ARGV, 3))\n"
	"  redis.call('EXPIRE', KEYS[1], ARGV[2])\n"
	"end\n"
	"redis.call('DEL', KEYS[2])\n"
	"return 1\n"
};

int
cache_page_begin(struct cache_page *p, int64_t id)
{
	if (p->n >= CACHE_PAGE_MAX)
		return -1;
	if (p->n > 0)
		strbuf_add(&p->text, ",", 1);
	p->offs[p->n] = p->text.len;
	p->ids[p->n] = id;
	return 0;
}

void
cache_page_end(struct cache_page *p)
{
	p->lens[p->n] = p->text.len - p->offs[p->n];
	p->n++;
}

/* The answer's head: {"<field>":[ */
static void
page_head(struct strbuf *out, const char *field)
{
	strbuf_reset(out);
	strbuf_adds(out, "{\"");
	strbuf_adds(out, field);
	strbuf_adds(out, "\":[");
}

/* The answer's tail: ],"<next>":N} or null, and a newline. */
static void
page_tail(struct strbuf *out, const char *next, int more, int64_t last_id)
{
	strbuf_adds(out, "],\"");
	strbuf_adds(out, next);
	strbuf_adds(out, "\":");
	if (more) {
		strbuf_addu(out, (unsigned long long)last_id);
		strbuf_adds(out, "}\n");
	} else
		strbuf_adds(out, "null}\n");
}

void
cache_page_answer(struct strbuf *out, const char *field, const char *next,
    const char *items, size_t len, int more, int64_t last_id)
{
	page_head(out, field);
	strbuf_add(out, items, len);
	page_tail(out, next, more, last_id);
}

/* Answers the first limit items of a page. */
static void
page_answer_from(struct strbuf *out, const char *field, const char *next,
    const struct cache_page *p, int limit)
{
	int n = p->n < limit ? p->n : limit;
	size_t len = n > 0 ? p->offs[n - 1] + p->lens[n - 1] : 0;

	cache_page_answer(out, field, next, p->text.buf ? p->text.buf : "",
	    len, n == limit && n > 0, n > 0 ? p->ids[n - 1] : 0);
}

void
cache_list_push(struct cache *c, const struct rkey *list, int64_t id,
    int64_t prev, const struct strbuf *item)
{
	struct rkey lease;
	char ids[24], cap[24], ttl[24], prevs[24];
	redisReply *r;

	keys_lease(list, &lease);
	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	snprintf(prevs, sizeof(prevs), "%lld", (long long)prev);
	snprintf(cap, sizeof(cap), "%lld", c->cfg->room_cache_size);
	snprintf(ttl, sizeof(ttl), "%lld", cache_jitter(c->cfg->room_cache_ttl));
	/* The item is JSON text: never a NUL byte. */
	r = rconn_evalv(c->rc, &push_script, 2, list->s, lease.s, ids,
	    item->buf, cap, ttl, prevs, NULL);
	if (r != NULL) {
		freeReplyObject(r);
		return;
	}
	/* The list may now lack this item: it must go (now, or when Redis
	 * is back). A rebuild will read it from SQLite. */
	cache_invalidate(c, list, 1);
}

/* Stores a rebuilt list if the lease is still ours. */
static void
rebuild_store(struct cache *c, const struct rkey *list,
    const struct rkey *lease, const char *token, const struct cache_page *p)
{
	const char *argv[4 + CACHE_PAGE_MAX];
	size_t lens[4 + CACHE_PAGE_MAX];
	char ttl[24];
	redisReply *r;
	int i;

	snprintf(ttl, sizeof(ttl), "%lld", cache_jitter(c->cfg->room_cache_ttl));
	argv[0] = list->s;
	lens[0] = list->len;
	argv[1] = lease->s;
	lens[1] = lease->len;
	argv[2] = token;
	lens[2] = strlen(token);
	argv[3] = ttl;
	lens[3] = strlen(ttl);
	for (i = 0; i < p->n; i++) {
		argv[4 + i] = p->text.buf + p->offs[i];
		lens[4 + i] = p->lens[i];
	}
	cache_fill_delay(c);
	if ((r = rconn_eval(c->rc, &rebuild_script, 2, 4 + i, argv,
	    lens)) != NULL)
		freeReplyObject(r);
}

struct list_read {
	const char	*field;
	int		 limit;
	struct strbuf	*out;
	int		 copy_only;	/* the copy is wanted, not the answer */
};

/* The id a cached item's text starts with ({"id":N,), or 0. */
static int64_t
text_id(const char *s, size_t len)
{
	if (len < 7 || strncmp(s, "{\"id\":", 6) != 0)
		return 0;
	return strtoll(s + 6, NULL, 10);
}

/*
 * The last answer this process gave from each list (for one limit), with
 * the id of the list's head then. Messages never change and ids only
 * grow, and the list is always the newest contiguous run SQLite holds:
 * so while the head is the same message the list holds the same
 * messages, and the answer is the same. A read asks for the head only
 * (LINDEX 0: one small item in place of 50) and for the range only when
 * the head changed, a second round trip once per post and process. (A
 * script doing both in one round trip costs Redis 2.5 us a call against
 * 0.1 us for LINDEX, measured with redis-benchmark here.) The answer
 * stays what an LRANGE would give at that moment: the list invariant
 * needs nothing more. Direct-mapped; a page is at most
 * room_cache_size items (about 16 KiB at 100 items of the usual size).
 */
#define COPY_SLOTS	64
#define COPY_ITEMS	100	/* room_cache_size's maximum (config.c) */

static struct list_copy {
	char		 key[sizeof(((struct rkey *)0)->s)];
	int		 limit;
	char		 head[24];	/* "" : empty slot */
	struct strbuf	 text;
	/* Its items, newest first, for the catch-up read (copy_after):
	 * where each lies in text, and its id; n is -1 when not indexed. */
	int		 n;
	size_t		 off[COPY_ITEMS], len[COPY_ITEMS];
	int64_t		 id[COPY_ITEMS];
} copies[COPY_SLOTS];

static struct list_copy *
copy_slot(const struct rkey *list, int limit)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */
	size_t i;

	for (i = 0; i < list->len; i++)
		h = (h ^ (unsigned char)list->s[i]) * 1099511628211ULL;
	h = (h ^ (unsigned)limit) * 1099511628211ULL;
	return &copies[h % COPY_SLOTS];
}

/* 1 if the item e starts {"id":ID, */
static int
head_is(const redisReply *e, const char *id)
{
	size_t n = strlen(id);

	return e->type == REDIS_REPLY_STRING && e->len > 6 + n &&
	    strncmp(e->str, "{\"id\":", 6) == 0 &&
	    strncmp(e->str + 6, id, n) == 0 && e->str[6 + n] == ',';
}

/* The answer from the items of r (an array, newest first). */
static void
list_answer(struct list_read *lr, const redisReply *r)
{
	const redisReply *e;
	size_t i;
	long long last = 0;

	/* The cached texts are sent as they are, joined. */
	page_head(lr->out, lr->field);
	for (i = 0; i < r->elements; i++) {
		e = r->element[i];
		if (e->type != REDIS_REPLY_STRING)
			continue;
		if (i > 0)
			strbuf_add(lr->out, ",", 1);
		strbuf_add(lr->out, e->str, e->len);
	}
	e = r->element[r->elements - 1];
	if ((int)r->elements == lr->limit && e->type == REDIS_REPLY_STRING)
		last = text_id(e->str, e->len);
	page_tail(lr->out, "next_before", last > 0, last);
}

/* Where each item of r lies in the answer list_answer made from it
 * (after page_head's {"field":[ and a comma between items), and its id. */
static void
copy_index(struct list_copy *cp, const char *field, const redisReply *r)
{
	const redisReply *e;
	size_t i, pos = 5 + strlen(field);

	cp->n = -1;
	if (r->elements > COPY_ITEMS)
		return;
	for (i = 0; i < r->elements; i++) {
		e = r->element[i];
		if (e->type != REDIS_REPLY_STRING ||
		    (cp->id[i] = text_id(e->str, e->len)) == 0)
			return;
		if (i > 0)
			pos++;
		cp->off[i] = pos;
		cp->len[i] = e->len;
		pos += e->len;
	}
	if (pos <= cp->text.len)
		cp->n = (int)r->elements;
}

/* Keeps the answer just made from r as the list's copy. */
static void
copy_keep(struct list_copy *cp, const struct rkey *list, int limit,
    const char *field, const redisReply *r, const struct strbuf *answer)
{
	const redisReply *e = r->element[0];
	size_t n;

	cp->head[0] = '\0';
	cp->n = -1;
	if (e->type != REDIS_REPLY_STRING || e->len < 7 ||
	    strncmp(e->str, "{\"id\":", 6) != 0)
		return;
	n = strspn(e->str + 6, "0123456789");
	if (n == 0 || n >= sizeof(cp->head) || list->len >= sizeof(cp->key))
		return;
	memcpy(cp->key, list->s, list->len + 1);
	cp->limit = limit;
	strbuf_reset(&cp->text);
	strbuf_add(&cp->text, answer->buf, answer->len);
	memcpy(cp->head, e->str + 6, n);
	cp->head[n] = '\0';
	copy_index(cp, field, r);
}

/* The first limit items of the list: 1 hit (answered into out), 0 no
 * list, -1 down. The id of the last item, for next_before, is read from
 * its text: a cached item starts {"id":N, (the push script relies on it
 * too). */
static int
list_read(struct cache *c, const struct rkey *list, void *ctx)
{
	struct list_read *lr = ctx;
	struct list_copy *cp = copy_slot(list, lr->limit);
	const char *known;
	char stop[16];
	redisReply *r;

	known = cp->head[0] != '\0' && cp->limit == lr->limit &&
	    strcmp(cp->key, list->s) == 0 ? cp->head : NULL;
	if (known != NULL) {
		/* Sent with the session's GET (cache_list_ahead), or now. */
		if ((r = cache_ahead_take(c, list, CACHE_AHEAD_LINDEX)) == NULL &&
		    (r = rconn_cmdv(c->rc, "LINDEX", list->s, "0",
		    NULL)) == NULL)
			return -1;
		if (r->type != REDIS_REPLY_STRING) {
			freeReplyObject(r);
			return 0;
		}
		if (head_is(r, known)) {
			/* copy_after reads the copy itself: no answer. */
			if (!lr->copy_only) {
				strbuf_reset(lr->out);
				strbuf_add(lr->out, cp->text.buf,
				    cp->text.len);
			}
			freeReplyObject(r);
			return 1;
		}
		freeReplyObject(r);
	}
	snprintf(stop, sizeof(stop), "%d", lr->limit - 1);
	if ((r = rconn_cmdv(c->rc, "LRANGE", list->s, "0", stop,
	    NULL)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
		freeReplyObject(r);
		return 0;
	}
	list_answer(lr, r);
	copy_keep(cp, list, lr->limit, lr->field, r, lr->out);
	freeReplyObject(r);
	return 1;
}

int
cache_list_get(struct cache *c, const struct rkey *list, const char *field,
    int64_t before, int limit, cache_page_fn fill, void *arg,
    struct strbuf *out, enum cache_result *res)
{
	struct list_read lr = { field, limit, out, 0 };
	struct rkey lease;
	struct cache_page p;
	char token[CACHE_TOKEN_LEN + 1];
	int got, rc;

	memset(&p, 0, sizeof(p));
	strbuf_init(&p.text);
	/* Only the first page, within the list's size, is cached. */
	if (before != 0 || limit > c->cfg->room_cache_size)
		got = -1;
	else {
		keys_lease(list, &lease);
		got = cache_lease_read(c, list, &lease, token, list_read, &lr);
	}
	if (got == 1) {
		*res = CACHE_HIT;
		metrics_cache(list->fam, 0);
		return 0;
	}
	*res = got == -1 ? CACHE_BYPASS : CACHE_MISS;
	metrics_cache(list->fam, got == -1 ? 2 : 1);
	if (got == 0) {
		/* Rebuild the whole list, answer the first limit. */
		rc = fill(arg, 0, (int)c->cfg->room_cache_size, &p);
		if (rc == 0) {
			rebuild_store(c, list, &lease, token, &p);
			page_answer_from(out, field, "next_before", &p, limit);
		}
	} else if ((rc = fill(arg, before, limit, &p)) == 0)
		page_answer_from(out, field, "next_before", &p, limit);
	strbuf_free(&p.text);
	return rc;
}

/*
 * The catch-up read from the list. The list is the contiguous run of the
 * newest items (the invariant above), so when its oldest entry is at or
 * before after, every item newer than after is in it. Returns 1
 * (answered into out), 0 (the list does not reach back that far, or is
 * absent) or -1 (Redis down).
 */
static int
list_after(struct cache *c, const struct rkey *list, const char *field,
    int64_t after, int limit, struct strbuf *out)
{
	redisReply *r, *e;
	int64_t id, last = 0;
	size_t i;
	int n = 0;

	if ((r = rconn_cmdv(c->rc, "LRANGE", list->s, "0", "-1",
	    NULL)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements == 0 ||
	    (e = r->element[r->elements - 1])->type != REDIS_REPLY_STRING ||
	    (id = text_id(e->str, e->len)) == 0 || id > after) {
		freeReplyObject(r);
		return 0;
	}
	/* Newest first in the list; the answer is oldest first. */
	page_head(out, field);
	for (i = r->elements; i-- > 0 && n < limit; ) {
		e = r->element[i];
		if (e->type != REDIS_REPLY_STRING ||
		    (id = text_id(e->str, e->len)) <= after)
			continue;
		if (n++ > 0)
			strbuf_add(out, ",", 1);
		strbuf_add(out, e->str, e->len);
		last = id;
	}
	page_tail(out, "next_after", n == limit, last);
	freeReplyObject(r);
	return 1;
}

void
cache_list_ahead(struct cache *c, const struct rkey *list)
{
	cache_ahead_queue(c, list, CACHE_AHEAD_LINDEX);
}

/*
 * The catch-up read from this process's copy of the list (the page of
 * room_cache_size items, the whole list). list_read validates that copy
 * with LINDEX 0, or renews it with one LRANGE when the head moved or
 * there is none; the copy is then a newest contiguous run as of this
 * read, so when it reaches back to after it answers exactly what
 * list_after would, and in the steady state for one small item in place
 * of the whole list. Returns 1 (answered), 2 (the list is absent or
 * does not reach back to after: SQLite answers), 0 (the copy could not be
 * indexed: list_after answers) or -1 (Redis down).
 */
static int
copy_after(struct cache *c, const struct rkey *list, const char *field,
    int64_t after, int limit, struct strbuf *out)
{
	struct list_read lr = { field, (int)c->cfg->room_cache_size, out, 1 };
	struct list_copy *cp = copy_slot(list, lr.limit);
	int64_t last = 0;
	int i, n = 0, rc;

	if ((rc = list_read(c, list, &lr)) != 1)
		return rc == 0 ? 2 : rc;
	if (cp->head[0] == '\0' || cp->n <= 0 || cp->limit != lr.limit ||
	    strcmp(cp->key, list->s) != 0)
		return 0;
	if (cp->id[cp->n - 1] > after)
		return 2;
	/* Newest first in the copy; the answer is oldest first. */
	page_head(out, field);
	for (i = cp->n; i-- > 0 && n < limit; ) {
		if (cp->id[i] <= after)
			continue;
		if (n++ > 0)
			strbuf_add(out, ",", 1);
		strbuf_add(out, cp->text.buf + cp->off[i], cp->len[i]);
		last = cp->id[i];
	}
	page_tail(out, "next_after", n == limit, last);
	return 1;
}

int
cache_list_after(struct cache *c, const struct rkey *list, const char *field,
    int64_t after, int limit, cache_page_fn fill, void *arg,
    struct strbuf *out, enum cache_result *res)
{
	struct cache_page p;
	int rc;

	/* Only a read the list can answer whole; it is never rebuilt here
	 * (a client catching up far back reads SQLite). */
	if (limit <= c->cfg->room_cache_size && cache_sync(c) == 0 &&
	    ((rc = copy_after(c, list, field, after, limit, out)) == 1 ||
	    (rc == 0 && list_after(c, list, field, after, limit, out) == 1))) {
		*res = CACHE_HIT;
		metrics_cache(list->fam, 0);
		return 0;
	}
	*res = CACHE_BYPASS;
	metrics_cache(list->fam, 2);
	memset(&p, 0, sizeof(p));
	strbuf_init(&p.text);
	if ((rc = fill(arg, after, limit, &p)) == 0)
		page_answer_from(out, field, "next_after", &p, limit);
	strbuf_free(&p.text);
	return rc;
}

/*
 * Unit tests for the parts of cache that need no server (API.md section
 * 4): the lease decisions every cached read follows (a hit is served; a
 * miss takes the lease, or waits for the reader that holds it, then gives
 * up and reads SQLite without storing; Redis down bypasses), the ttl
 * jitter, and the page answer.
 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include <hiredis/hiredis.h>

#include "cache.h"
#include "log.h"
#include "rconn.h"

static void
test_after_read(void **state)
{
	(void)state;
	assert_int_equal(cache_after_read(1), CACHE_STEP_SERVE);
	assert_int_equal(cache_after_read(0), CACHE_STEP_LEASE);
	assert_int_equal(cache_after_read(-1), CACHE_STEP_BYPASS);
}

static void
test_after_lease(void **state)
{
	int i;

	(void)state;
	for (i = 0; i <= CACHE_WAIT_TRIES + 1; i++) {
		/* Ours: fill and store, however long it took. */
		assert_int_equal(cache_after_lease(1, i), CACHE_STEP_FILL);
		/* Redis failed in the middle: bypass. */
		assert_int_equal(cache_after_lease(-1, i), CACHE_STEP_BYPASS);
	}
	for (i = 0; i < CACHE_WAIT_TRIES; i++) {
		/* Another reader fills: pause, then read again. */
		assert_int_equal(cache_after_lease(0, i), CACHE_STEP_WAIT);
		/* The value appeared: read again at once. */
		assert_int_equal(cache_after_lease(2, i), CACHE_STEP_READ);
	}
	/* Waited enough: read SQLite, store nothing. */
	assert_int_equal(cache_after_lease(0, CACHE_WAIT_TRIES),
	    CACHE_STEP_GIVE_UP);
	assert_int_equal(cache_after_lease(2, CACHE_WAIT_TRIES),
	    CACHE_STEP_GIVE_UP);
	/* An answer the script never gives is not taken for a lease. */
	assert_int_equal(cache_after_lease(3, 0), CACHE_STEP_BYPASS);
}

/* A reader's whole walk, replayed from a script of what Redis said. */
static int
walk(const int *reads, const int *leases, int *waits)
{
	int i, r = 0, l = 0;

	*waits = 0;
	for (i = 0; ; i++) {
		switch (cache_after_read(reads[r++])) {
		case CACHE_STEP_SERVE:
			return 1;
		case CACHE_STEP_LEASE:
			break;
		default:
			return -1;
		}
		switch (cache_after_lease(leases[l++], i)) {
		case CACHE_STEP_FILL:
			return 0;
		case CACHE_STEP_GIVE_UP:
			return 2;
		case CACHE_STEP_WAIT:
			(*waits)++;
			break;
		case CACHE_STEP_READ:
			break;
		default:
			return -1;
		}
	}
}

static void
test_walks(void **state)
{
	int reads[32], leases[32], waits, i;

	(void)state;
	/* A burst: the second reader waits for the first one's value. */
	reads[0] = 0, leases[0] = 0, reads[1] = 0, leases[1] = 2, reads[2] = 1;
	assert_int_equal(walk(reads, leases, &waits), 1);
	assert_int_equal(waits, 1);
	/* The filler never stores (it crashed): give up after the waits. */
	for (i = 0; i < 32; i++)
		reads[i] = 0, leases[i] = 0;
	assert_int_equal(walk(reads, leases, &waits), 2);
	assert_int_equal(waits, CACHE_WAIT_TRIES);
	/* A room without messages: the list stays empty, and the lease is
	 * taken at once by the next reader. */
	reads[0] = 0, leases[0] = 1;
	assert_int_equal(walk(reads, leases, &waits), 0);
	assert_int_equal(waits, 0);
	/* Redis goes away between the read and the lease. */
	reads[0] = 0, leases[0] = -1;
	assert_int_equal(walk(reads, leases, &waits), -1);
}

static void
test_jitter(void **state)
{
	long long t;
	int i;

	(void)state;
	/* Short ttls are kept as they are. */
	for (t = 0; t < 10; t++)
		assert_int_equal(cache_jitter(t), t);
	for (i = 0; i < 1000; i++) {
		t = cache_jitter(300);
		assert_true(t >= 270 && t <= 300);
	}
}

static void
test_page_answer(void **state)
{
	struct strbuf out;

	(void)state;
	strbuf_init(&out);
	cache_page_answer(&out, "messages", "next_before", "{\"id\":9},{\"id\":8}", 17, 1, 8);
	assert_string_equal(out.buf,
	    "{\"messages\":[{\"id\":9},{\"id\":8}],\"next_before\":8}\n");
	cache_page_answer(&out, "messages", "next_before", "{\"id\":9}", 8, 0, 9);
	assert_string_equal(out.buf,
	    "{\"messages\":[{\"id\":9}],\"next_before\":null}\n");
	cache_page_answer(&out, "messages", "next_before", "", 0, 0, 0);
	assert_string_equal(out.buf, "{\"messages\":[],\"next_before\":null}\n");
	/* The catch-up read's pages name their cursor next_after. */
	cache_page_answer(&out, "messages", "next_after",
	    "{\"id\":8},{\"id\":9}", 17, 1, 9);
	assert_string_equal(out.buf,
	    "{\"messages\":[{\"id\":8},{\"id\":9}],\"next_after\":9}\n");
	strbuf_free(&out);
}

static void
test_page_items(void **state)
{
	struct cache_page p;
	int i;

	(void)state;
	memset(&p, 0, sizeof(p));
	strbuf_init(&p.text);
	for (i = 0; i < CACHE_PAGE_MAX; i++) {
		assert_int_equal(cache_page_begin(&p, 100 - i), 0);
		strbuf_printf(&p.text, "{\"id\":%d}", 100 - i);
		cache_page_end(&p);
	}
	/* Full: refused, not overrun. */
	assert_int_equal(cache_page_begin(&p, 1), -1);
	assert_int_equal(p.n, CACHE_PAGE_MAX);
	assert_int_equal(p.ids[1], 99);
	assert_memory_equal(p.text.buf + p.offs[1], "{\"id\":99}", p.lens[1]);
	assert_int_equal(p.text.buf[p.offs[1] - 1], ',');
	strbuf_free(&p.text);
}

static void
test_result_names(void **state)
{
	(void)state;
	assert_string_equal(cache_result_name(CACHE_HIT), "HIT");
	assert_string_equal(cache_result_name(CACHE_MISS), "MISS");
	assert_string_equal(cache_result_name(CACHE_BYPASS), "BYPASS");
}

/* Seals (API.md section 4): a value comes back only from the key it was
 * sealed for, under the same secret, unedited, before its expiry and in
 * its generation. */
static void
test_seal(void **state)
{
	unsigned char kb[CACHE_MAC_KEY_LEN];
	struct cache_mac key, other;
	struct keyspace ks;
	struct rkey k5, k6;
	struct strbuf b, t;
	const char *v, *val = "{\"id\":5,\"requester_id\":7}";
	size_t vlen, i;
	char err[128];

	(void)state;
	randombytes_buf(kb, sizeof(kb));
	cache_mac_init(&key, kb);
	kb[0] ^= 1;
	cache_mac_init(&other, kb);
	assert_int_equal(keys_init(&ks, "", err, sizeof(err)), 0);
	keys_ticket(&ks, &k5, 5);
	keys_ticket(&ks, &k6, 6);
	strbuf_init(&b);
	strbuf_init(&t);
	cache_seal(&key, &k5, 3, 1000, val, strlen(val), &b);
	assert_int_equal(b.len, CACHE_SEAL_LEN + strlen(val));
	assert_int_equal(b.buf[CACHE_SEAL_LEN - 1], '|');
	assert_int_equal(strlen(b.buf), b.len);
	assert_int_equal(cache_unseal(&key, &k5, 3, 999, b.buf, b.len, &v,
	    &vlen), CACHE_SEAL_OK);
	assert_int_equal(vlen, strlen(val));
	assert_memory_equal(v, val, vlen);
	/* Expired, or of another generation: genuine but stale. */
	assert_int_equal(cache_unseal(&key, &k5, 3, 1000, b.buf, b.len, &v,
	    &vlen), CACHE_SEAL_STALE);
	assert_int_equal(cache_unseal(&key, &k5, 4, 999, b.buf, b.len, &v,
	    &vlen), CACHE_SEAL_STALE);
	/* Another key, another secret: forged. */
	assert_int_equal(cache_unseal(&key, &k6, 3, 999, b.buf, b.len, &v,
	    &vlen), CACHE_SEAL_FORGED);
	assert_int_equal(cache_unseal(&other, &k5, 3, 999, b.buf, b.len, &v,
	    &vlen), CACHE_SEAL_FORGED);
	/* Any byte changed, the value cut or grown, or no seal at all. */
	for (i = 0; i < b.len; i++) {
		strbuf_reset(&t);
		strbuf_add(&t, b.buf, b.len);
		t.buf[i] = t.buf[i] == '7' ? '8' : '7';
		assert_int_equal(cache_unseal(&key, &k5, 3, 999, t.buf, t.len,
		    &v, &vlen), CACHE_SEAL_FORGED);
	}
	assert_int_equal(cache_unseal(&key, &k5, 3, 999, b.buf, b.len - 1, &v,
	    &vlen), CACHE_SEAL_FORGED);
	strbuf_reset(&t);
	strbuf_add(&t, b.buf, b.len);
	strbuf_add(&t, " ", 1);
	assert_int_equal(cache_unseal(&key, &k5, 3, 999, t.buf, t.len, &v,
	    &vlen), CACHE_SEAL_FORGED);
	assert_int_equal(cache_unseal(&key, &k5, 0, 0, val, strlen(val), &v,
	    &vlen), CACHE_SEAL_FORGED);
	assert_int_equal(cache_unseal(&key, &k5, 0, 0, "", 0, &v, &vlen),
	    CACHE_SEAL_FORGED);
	strbuf_free(&b);
	strbuf_free(&t);
}

/*
 * A bounded reader refuses an array count above RCONN_MAX_ELEMENTS
 * before allocating for it (hiredis 0.14 callocs the pointers as soon as
 * it reads the count), and still reads arrays up to the bound.
 */
static void
test_reader_bound(void **state)
{
	static const char small[] = "*2\r\n$1\r\na\r\n:7\r\n";
	char huge[64];
	redisReader *rd;
	redisReply *r;
	void *v;

	(void)state;
	assert_non_null(rd = redisReaderCreate());
	rconn_bound_reader(rd);
	assert_int_equal(redisReaderFeed(rd, small, sizeof(small) - 1),
	    REDIS_OK);
	assert_int_equal(redisReaderGetReply(rd, &v), REDIS_OK);
	r = v;
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->elements, 2);
	assert_string_equal(r->element[0]->str, "a");
	assert_int_equal(r->element[1]->integer, 7);
	freeReplyObject(r);
	/* The bound itself is allowed: 1 << 20 nils. */
	snprintf(huge, sizeof(huge), "*%d\r\n", RCONN_MAX_ELEMENTS);
	assert_int_equal(redisReaderFeed(rd, huge, strlen(huge)), REDIS_OK);
	assert_int_equal(redisReaderGetReply(rd, &v), REDIS_OK);
	assert_null(v);		/* waits for the elements */
	redisReaderFree(rd);

	assert_non_null(rd = redisReaderCreate());
	rconn_bound_reader(rd);
	snprintf(huge, sizeof(huge), "*%d\r\n", RCONN_MAX_ELEMENTS + 1);
	assert_int_equal(redisReaderFeed(rd, huge, strlen(huge)), REDIS_OK);
	assert_int_equal(redisReaderGetReply(rd, &v), REDIS_ERR);
	assert_null(v);
	redisReaderFree(rd);

	assert_non_null(rd = redisReaderCreate());
	rconn_bound_reader(rd);
	assert_int_equal(redisReaderFeed(rd, "*999999999\r\n", 12), REDIS_OK);
	assert_int_equal(redisReaderGetReply(rd, &v), REDIS_ERR);
	redisReaderFree(rd);

	assert_non_null(rd = redisReaderCreate());
	rconn_bound_reader(rd);
	assert_int_equal(redisReaderFeed(rd, "*-5\r\n", 5), REDIS_OK);
	assert_int_equal(redisReaderGetReply(rd, &v), REDIS_ERR);
	redisReaderFree(rd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_after_read),
		cmocka_unit_test(test_after_lease),
		cmocka_unit_test(test_walks),
		cmocka_unit_test(test_jitter),
		cmocka_unit_test(test_page_answer),
		cmocka_unit_test(test_page_items),
		cmocka_unit_test(test_result_names),
		cmocka_unit_test(test_seal),
		cmocka_unit_test(test_reader_bound),
	};

	if (sodium_init() < 0)
		return 1;
	log_init("test_cache", LOGL__MAX);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

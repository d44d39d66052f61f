/*
 * The ceiling for bench/run.sh: the least a libfcgi responder can do to
 * answer a cached room read through the same nginx: one LRANGE of a
 * 50-message list, the elements joined into the same JSON shape, no auth,
 * no routing, no logging. chatdesk's cached read is measured against it.
 *
 *   cc -O2 -o ceiling ceiling.c -lfcgi -lhiredis
 *   CEILING_REDIS=/path/redis.sock CEILING_KEY=messages:room:1 \
 *       spawn-fcgi -s ceiling.sock -F 2 -- ./ceiling
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcgiapp.h>
#include <hiredis/hiredis.h>

int
main(void)
{
	FCGX_Request fr;
	redisContext *c;
	redisReply *r;
	const char *sock = getenv("CEILING_REDIS");
	const char *key = getenv("CEILING_KEY");
	static char buf[1 << 20];
	size_t len, i;
	int n;

	signal(SIGPIPE, SIG_IGN);
	if (sock == NULL || key == NULL ||
	    (c = redisConnectUnix(sock)) == NULL || c->err) {
		fprintf(stderr, "ceiling: set CEILING_REDIS and CEILING_KEY\n");
		return 1;
	}
	FCGX_Init();
	FCGX_InitRequest(&fr, 0, 0);
	while (FCGX_Accept_r(&fr) >= 0) {
		r = redisCommand(c, "LRANGE %s 0 49", key);
		len = (size_t)snprintf(buf, sizeof(buf), "{\"messages\":[");
		for (i = 0; r != NULL && r->type == REDIS_REPLY_ARRAY &&
		    i < r->elements && len + r->element[i]->len + 64 <
		    sizeof(buf); i++) {
			if (i > 0)
				buf[len++] = ',';
			memcpy(buf + len, r->element[i]->str, r->element[i]->len);
			len += r->element[i]->len;
		}
		len += (size_t)snprintf(buf + len, sizeof(buf) - len,
		    "],\"next_before\":null}\n");
		if (r != NULL)
			freeReplyObject(r);
		n = snprintf(NULL, 0, "%zu", len);
		FCGX_FPrintF(fr.out, "Status: 200 OK\r\nContent-Type: "
		    "application/json; charset=utf-8\r\nContent-Length: ");
		{
			char num[32];

			snprintf(num, sizeof(num), "%zu", len);
			FCGX_PutStr(num, n, fr.out);
		}
		FCGX_PutStr("\r\n\r\n", 4, fr.out);
		FCGX_PutStr(buf, (int)len, fr.out);
		FCGX_Finish_r(&fr);
	}
	return 0;
}

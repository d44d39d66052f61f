/*
 * The memory floor for bench/run.sh --memory: a program that links the
 * libraries chatdesk links and does nothing else prints its own memory
 * (KiB) at the start of main, and again after curl_global_init, which
 * chatdesk calls when live events are configured. What chatdesk's
 * processes show above this is their own; what this shows is the price of
 * Debian's libraries (libcurl alone loads about 30) in every process.
 *
 *   cc -O2 -o rss_floor rss_floor.c -Wl,--no-as-needed -lcurl -lsqlite3 \
 *       -lhiredis -ljansson -lsodium -lfcgi
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

static void
show(const char *when)
{
	static const char *keys[] = { "Rss:", "Pss:", "Private_Clean:",
	    "Private_Dirty:", "Anonymous:" };
	char line[256];
	long v[5] = { 0 }, n;
	size_t i;
	FILE *f;

	if ((f = fopen("/proc/self/smaps_rollup", "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		for (i = 0; i < 5; i++)
			if (strncmp(line, keys[i], strlen(keys[i])) == 0 &&
			    sscanf(line + strlen(keys[i]), "%ld", &n) == 1)
				v[i] = n;
	fclose(f);
	printf("%s: RSS %ld PSS %ld USS %ld anon %ld\n", when, v[0], v[1],
	    v[2] + v[3], v[4]);
}

int
main(void)
{
	show("at main");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	show("after curl_global_init");
	curl_global_cleanup();
	return 0;
}

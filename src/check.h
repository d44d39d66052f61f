/*
 * check: `chatdesk --check-config`, `chatdesk-worker --check-config` and
 * `chatdeskctl check`, like `nginx -t` and `php-fpm -t`: with the
 * configuration already loaded, opens the database, the metrics file and
 * both Redis connections as the programs would, prints one line per thing
 * found on out, and serves nothing.
 */
#ifndef CHATDESK_CHECK_H
#define CHATDESK_CHECK_H

#include <stdio.h>

struct app;

/* Returns 0 if everything is usable, else 1 (the exit status). */
int check_run(struct app *, const char *prog, FILE *out);

#endif

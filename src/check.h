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

/*
 * Loads app->cfg from app->config_path. On failure, with check the
 * reason goes to standard output as --check-config's answer, else where
 * start-up errors go (log_startup_error, with the log_file the broken
 * configuration names). Returns 0 or -1.
 */
int check_config_load(struct app *, const char *prog, int check);
/* Returns 0 if everything is usable, else 1 (the exit status). */
int check_run(struct app *, const char *prog, FILE *out);

#endif

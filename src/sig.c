/* sig: see sig.h. */
#include "autoconf.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "config.h"
#include "log.h"
#include "sig.h"

static volatile sig_atomic_t sig_stop, sig_hup, sig_usr1, sig_usr2;
static void (*sig_on_stop)(void);
static int sig_log_file;	/* 1: log_file is this program's log */

static void
on_signal(int sig)
{
	int save = errno;

	switch (sig) {
	case SIGHUP:
		sig_hup = 1;
		break;
	case SIGUSR1:
		sig_usr1 = 1;
		break;
	case SIGUSR2:
		sig_usr2 = 1;
		break;
	default:
		if (!sig_stop)
			sig_stop = sig;
		if (sig_on_stop != NULL)
			sig_on_stop();
		break;
	}
	errno = save;
}

void
sig_init(void (*on_stop)(void), int interrupt, int log_file)
{
	static const int stops[] = { SIGTERM, SIGQUIT, SIGINT };
	static const int others[] = { SIGHUP, SIGUSR1, SIGUSR2 };
	struct sigaction sa;
	size_t i;

	sig_on_stop = on_stop;
	sig_log_file = log_file;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
		sigaddset(&sa.sa_mask, stops[i]);
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		sigaddset(&sa.sa_mask, others[i]);
	sa.sa_flags = interrupt ? 0 : SA_RESTART;
	for (i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
		sigaction(stops[i], &sa, NULL);
	sa.sa_flags = SA_RESTART;
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		sigaction(others[i], &sa, NULL);
	/* Installed before FCGX_Init, which then leaves SIGPIPE and SIGUSR1
	 * alone (libfcgi only replaces handlers still at SIG_DFL; its own
	 * SIGUSR1 shuts the process down). */
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = 0;
	sigaction(SIGPIPE, &sa, NULL);
}

int
sig_stopping(void)
{
	return sig_stop != 0;
}

/* One line per key a reload found changed. */
static void
report_key(void *arg, const char *key, int applied)
{
	(void)arg;
	if (applied)
		log_info("reload: %s applied", key);
	else
		log_warn("reload: %s changed in the configuration but cannot "
		    "change in a running process: restart to apply it", key);
}

static void
reopen_log(const struct config *cfg)
{
	/* The worker, and a pool without log_file, log to the standard
	 * error they were given: nothing of theirs to reopen. */
	if (*cfg->log_file == '\0' || !sig_log_file) {
		log_info("SIGUSR1: logging to standard error; nothing to "
		    "reopen");
		return;
	}
	if (log_open_file(cfg->log_file) == -1)
		log_error("SIGUSR1: cannot reopen %s: %s; logging on to the "
		    "old file", cfg->log_file, strerror(errno));
	else
		log_info("reopened log file %s", cfg->log_file);
}

static void
reload(struct app *app, const char *config_path)
{
	struct config next;
	char err[CONFIG_ERRLEN + 64], *old_file;
	int n;

	if (config_load(&next, config_path, err, sizeof(err)) == -1) {
		log_error("reload failed, the running configuration stays: %s",
		    err);
		return;
	}
	if ((old_file = strdup(app->cfg.log_file)) == NULL)
		abort();
	n = config_reload(&app->cfg, &next, report_key, NULL);
	config_free(&next);
	/* Said at the level in force until now, so that a reload that
	 * raises log_level is still seen. */
	log_info("reloaded configuration: %d key%s applied", n,
	    n == 1 ? "" : "s");
	log_init(NULL, (enum log_level)app->cfg.log_level);
	/* A new log_file takes effect now; set back to empty, the old file
	 * stays in use (standard error was pointed there). */
	if (*app->cfg.log_file != '\0' && strcmp(old_file, app->cfg.log_file))
		reopen_log(&app->cfg);
	free(old_file);
}

void
sig_apply(struct app *app)
{
	if (sig_hup) {
		sig_hup = 0;
		reload(app, app->config_path);
	}
	if (sig_usr1) {
		sig_usr1 = 0;
		reopen_log(&app->cfg);
	}
	if (sig_usr2) {
		sig_usr2 = 0;
		log_info("SIGUSR2 ignored (SIGHUP reloads, SIGUSR1 reopens "
		    "the log, SIGTERM or SIGQUIT stops)");
	}
}

/*
 * sig: the signals of API.md section 7, shared by chatdesk and
 * chatdesk-worker. Handlers only set flags; the programs act on them
 * between requests (or tasks) with sig_apply:
 *
 *   SIGTERM, SIGQUIT, SIGINT  finish what is in flight, then exit
 *   SIGHUP   re-read the configuration, apply the keys that are safe to
 *            change (config.c's live column), log every other change
 *   SIGUSR1  reopen log_file (logrotate's postrotate)
 *   SIGUSR2  ignored, with a log line
 *   SIGPIPE  ignored (a client or a notify_command gone away)
 */
#ifndef CHATDESK_SIG_H
#define CHATDESK_SIG_H

#include <signal.h>

struct app;

/*
 * Installs the handlers. on_stop (may be NULL) runs inside the handler
 * of a stop signal and must be async-signal-safe (FCGX_ShutdownPending).
 * interrupt: the stop signals are installed without SA_RESTART, so that
 * a process blocked in accept(2) wakes up; the others always restart, so
 * that a reload never fails a read or write in flight. log_file: 1 if
 * the program logs to log_file when it is set (the pool), so that SIGUSR1
 * and a reload that changes it (re)open it; 0: stderr stays (the worker).
 */
void sig_init(void (*on_stop)(void), int interrupt, int log_file);
/* 1 once a stop signal arrived. */
int sig_stopping(void);
/* Acts on SIGHUP, SIGUSR1 and SIGUSR2 received since the last call;
 * a reload reads app->config_path (or CHATDESK_CONFIG) again. */
void sig_apply(struct app *);

#endif

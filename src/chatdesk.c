/*
 * chatdesk: the FastCGI responder. One process serves one connection at a
 * time; spawn-fcgi starts a pool of them on one socket, passed on standard
 * input. main holds only start-up, the accept loop and shut-down.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <poll.h>
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <sodium.h>

#include "app.h"
#include "check.h"
#include "config.h"
#include "events.h"
#include "log.h"
#include "metrics.h"
#include "serve.h"
#include "sig.h"

#define EXIT_USAGE	64

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: chatdesk [--config FILE] [--listen PATH|HOST:PORT]\n"
	    "       chatdesk [--config FILE] --check-config\n"
	    "\n"
	    "The chatdesk FastCGI responder. Without --listen it serves the\n"
	    "socket on standard input, as spawn-fcgi passes it:\n"
	    "  spawn-fcgi -s /run/chatdesk/chatdesk.sock -M 0660 -F 4 -- chatdesk\n"
	    "\n"
	    "  --config FILE   key = value settings (default: $CHATDESK_CONFIG);\n"
	    "                  each key can be overridden by CHATDESK_<KEY>\n"
	    "  --listen ADDR   open a unix socket PATH or a TCP HOST:PORT itself\n"
	    "  --check-config  check the settings, the database and Redis, print\n"
	    "                  what was found and exit 0 or 1 (like nginx -t)\n"
	    "  --help          this text\n"
	    "  --version       the version\n"
	    "\n"
	    "Signals: TERM or QUIT finish the request in flight and exit; HUP\n"
	    "re-reads the configuration; USR1 reopens log_file.\n");
}

/* From a stop signal's handler: an idle FCGX_Accept_r returns. */
static void
on_stop(void)
{
	FCGX_ShutdownPending();
}

/* 1 if fd is a unix-domain socket. */
static int
socket_is_unix(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	return getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    ss.ss_family == AF_UNIX;
}

/*
 * Waits until a connection is waiting on fd, or a stop signal came.
 * libfcgi's accept(2) is entered only then: a stop signal that lands
 * after sig_stopping() was looked at but before accept blocks would
 * interrupt nothing, and the process would wait for the next connection
 * (one that may never come). Here such a signal costs at most one
 * slice. Returns 1 when a connection waits, 0 when stopping.
 */
static int
wait_connection(int fd)
{
	struct pollfd p;

	for (;;) {
		if (sig_stopping())
			return 0;
		p.fd = fd;
		p.events = POLLIN;
		p.revents = 0;
		if (poll(&p, 1, 100) > 0)
			return 1;
	}
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "check-config", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct app app;
	FCGX_Request fr;
	const char *config_path = NULL, *listen_addr = NULL;
	char err[CONFIG_ERRLEN + 256];
	int ch, sock = 0, check = 0, rc = EXIT_FAILURE;

	umask(APP_UMASK);
	opterr = 0;	/* one-line errors, printed below */
	while ((ch = getopt_long(argc, argv, ":c:l:thV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'l':
			listen_addr = optarg;
			break;
		case 't':
			check = 1;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf("chatdesk %s\n", PACKAGE_VERSION);
			return EXIT_SUCCESS;
		default:
			fprintf(stderr, "chatdesk: bad option '%s' (see chatdesk --help)\n",
			    argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "chatdesk: unexpected argument '%s' (see "
		    "chatdesk --help)\n", argv[optind]);
		return EXIT_USAGE;
	}
	memset(&app, 0, sizeof(app));
	app.config_path = config_path;
	log_init("chatdesk", LOGL_INFO);
	if (check_config_load(&app, "chatdesk", check) == -1)
		return EXIT_FAILURE;
	log_init("chatdesk", (enum log_level)app.cfg.log_level);
	/* Early, so that no signal of sig.h kills a process still starting;
	 * and before FCGX_Init, which keeps the handlers it finds. A stop
	 * signal during start-up is seen before the first accept. */
	sig_init(on_stop, 1, 1);
	if (sodium_init() < 0) {
		log_startup_error(app.cfg.log_file, "libsodium failed to "
		    "initialise");
		goto out;
	}
	app.metrics_required = 1;
	if (check) {
		rc = check_run(&app, "chatdesk", stdout);
		goto out;
	}
	if (*app.cfg.log_file != '\0' && log_open_file(app.cfg.log_file) == -1) {
		log_startup_error(NULL, "log_file: cannot open %s: %s",
		    app.cfg.log_file, strerror(errno));
		goto out;
	}
	if (app_open(&app, DB_OPEN_APP, err, sizeof(err)) == -1) {
		log_startup_error(app.cfg.log_file, "%s", err);
		goto out;
	}
	serve_init();
	if (FCGX_Init() != 0) {
		log_startup_error(app.cfg.log_file, "FCGX_Init failed");
		goto out;
	}
	/* A unix socket of our own is 0660, for nginx's group, as
	 * spawn-fcgi -M 0660 makes it (libfcgi leaves it to the umask). */
	umask(0117);
	if (listen_addr != NULL)
		sock = FCGX_OpenSocket(listen_addr, 128);
	umask(APP_UMASK);
	if (sock < 0) {
		log_startup_error(app.cfg.log_file, "--listen %s: cannot open: "
		    "%s", listen_addr, strerror(errno));
		goto out;
	}
	if (listen_addr == NULL && FCGX_IsCGI()) {
		log_startup_error(app.cfg.log_file, "standard input is not a "
		    "FastCGI socket: start it under spawn-fcgi, or use --listen");
		rc = EXIT_USAGE;
		goto out;
	}
	app.fcgi_unix = socket_is_unix(sock);
	if (FCGX_InitRequest(&fr, sock, 0) != 0) {
		log_startup_error(app.cfg.log_file, "FCGX_InitRequest failed");
		goto out;
	}
	metrics_pool_join();
	log_info("ready (pid %ld, version %s)", (long)getpid(), PACKAGE_VERSION);
	/* SIGHUP and SIGUSR1 restart accept(2) (SA_RESTART): what they ask
	 * is done here before the next request, never in the middle of one. */
	for (;;) {
		/* The last publish's answer, read while no request waits. */
		events_wait(app.events, sock);
		if (!wait_connection(sock) || FCGX_Accept_r(&fr) < 0)
			break;
		sig_apply(&app);
		serve_handle(&app, &fr);	/* finishes fr */
		sig_apply(&app);
	}
	FCGX_Free(&fr, 1);
	log_info("stopping (pid %ld)", (long)getpid());
	rc = EXIT_SUCCESS;
out:
	app_close(&app);
	config_free(&app.cfg);
	return rc;
}

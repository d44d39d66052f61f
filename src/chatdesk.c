/*
 * chatdesk: the FastCGI responder. One process serves one connection at a
 * time; spawn-fcgi starts a pool of them on one socket, passed on standard
 * input. main holds only start-up, the accept loop and shut-down.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <sodium.h>

#include "app.h"
#include "config.h"
#include "log.h"
#include "serve.h"

#define EXIT_USAGE	64

static volatile sig_atomic_t stopping;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: chatdesk [--config FILE] [--listen PATH|HOST:PORT]\n"
	    "\n"
	    "The chatdesk FastCGI responder. Without --listen it serves the\n"
	    "socket on standard input, as spawn-fcgi passes it:\n"
	    "  spawn-fcgi -s /run/chatdesk/chatdesk.sock -M 0660 -F 4 -- chatdesk\n"
	    "\n"
	    "  --config FILE   key = value settings (default: $CHATDESK_CONFIG);\n"
	    "                  each key can be overridden by CHATDESK_<KEY>\n"
	    "  --listen ADDR   open a unix socket PATH or a TCP HOST:PORT itself\n"
	    "  --help          this text\n"
	    "  --version       the version\n");
}

/* SIGTERM: let the request in flight finish, then leave the loop. Installed
 * without SA_RESTART so that an idle accept(2) is interrupted too. */
static void
on_term(int sig)
{
	(void)sig;
	stopping = 1;
	FCGX_ShutdownPending();
}

static void
signals_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* A client that goes away mid-response must not kill the process. */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
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

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct app app;
	FCGX_Request fr;
	const char *config_path = NULL, *listen_addr = NULL;
	char err[CONFIG_ERRLEN + 256];
	int ch, sock = 0, rc = EXIT_FAILURE;

	umask(APP_UMASK);
	opterr = 0;	/* one-line errors, printed below */
	while ((ch = getopt_long(argc, argv, ":c:l:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'l':
			listen_addr = optarg;
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
	if (config_load(&app.cfg, config_path, err, sizeof(err)) == -1) {
		fprintf(stderr, "chatdesk: config: %s\n", err);
		return EXIT_FAILURE;
	}
	if (*app.cfg.log_file != '\0' && log_open_file(app.cfg.log_file) == -1) {
		fprintf(stderr, "chatdesk: log_file: cannot open %s: %s\n",
		    app.cfg.log_file, strerror(errno));
		goto out;
	}
	log_init("chatdesk", (enum log_level)app.cfg.log_level);
	if (sodium_init() < 0) {
		fprintf(stderr, "chatdesk: libsodium failed to initialise\n");
		goto out;
	}
	if (app_open(&app, DB_OPEN_APP, err, sizeof(err)) == -1) {
		fprintf(stderr, "chatdesk: %s\n", err);
		goto out;
	}
	serve_init();
	signals_init();
	if (FCGX_Init() != 0) {
		fprintf(stderr, "chatdesk: FCGX_Init failed\n");
		goto out;
	}
	/* A unix socket of our own is 0660, for nginx's group, as
	 * spawn-fcgi -M 0660 makes it (libfcgi leaves it to the umask). */
	umask(0117);
	if (listen_addr != NULL)
		sock = FCGX_OpenSocket(listen_addr, 128);
	umask(APP_UMASK);
	if (sock < 0) {
		fprintf(stderr, "chatdesk: --listen %s: cannot open: %s\n",
		    listen_addr, strerror(errno));
		goto out;
	}
	if (listen_addr == NULL && FCGX_IsCGI()) {
		fprintf(stderr, "chatdesk: standard input is not a FastCGI "
		    "socket: start it under spawn-fcgi, or use --listen\n");
		rc = EXIT_USAGE;
		goto out;
	}
	app.fcgi_unix = socket_is_unix(sock);
	if (FCGX_InitRequest(&fr, sock, 0) != 0) {
		fprintf(stderr, "chatdesk: FCGX_InitRequest failed\n");
		goto out;
	}
	log_info("ready (pid %ld)", (long)getpid());
	while (!stopping && FCGX_Accept_r(&fr) >= 0) {
		serve_handle(&app, &fr);	/* finishes fr */
	}
	FCGX_Free(&fr, 1);
	log_info("stopping (pid %ld)", (long)getpid());
	rc = EXIT_SUCCESS;
out:
	app_close(&app);
	config_free(&app.cfg);
	return rc;
}

/*
 * serve: the request dispatcher, the top floor of the app: parse, route
 * (the table in routes.c), check access, run the handler, answer, finish
 * the FastCGI request, count and log. Only chatdesk (and the fuzzer)
 * link it; the worker and chatdeskctl do not link the handlers.
 */
#ifndef CHATDESK_SERVE_H
#define CHATDESK_SERVE_H

#include <fcgiapp.h>

struct app;
struct req;

/* Once at start-up: hands the route labels to metrics. */
void serve_init(void);

/* Handles one accepted request. Never fails: every error becomes a
 * response. */
void serve_handle(struct app *, FCGX_Request *);
/* The same for a request already initialised (tests, fuzzing). */
void serve_dispatch(struct app *, struct req *);

#endif

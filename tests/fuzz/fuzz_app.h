/*
 * fuzz_app: what the libFuzzer targets share. A real process state
 * (struct app) over a fresh, migrated SQLite database in a temp directory
 * (on /dev/shm when it is there), with four users whose tokens are known,
 * a room and a ticket; and a FastCGI request driven in memory: an
 * FCGX_Request whose params and stdin come from the fuzz input and whose
 * stdout is collected, handed to the real dispatcher (serve_dispatch).
 *
 * Nothing here is linked into the programs.
 */
#ifndef CHATDESK_FUZZ_APP_H
#define CHATDESK_FUZZ_APP_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "auth.h"
#include "util.h"

enum fuzz_user {
	FUZZ_ADMIN,		/* "@admin" in a request */
	FUZZ_AGENT,		/* "@agent" */
	FUZZ_CUSTOMER,		/* "@customer": the ticket's requester */
	FUZZ_CUSTOMER2,		/* "@other": in no room, owns nothing */
	FUZZ_NUSERS
};

struct fuzz_app {
	struct app	 app;
	char		 dir[256];
	char		 db_path[300];
	char		 tokens[FUZZ_NUSERS][AUTH_TOKEN_LEN + 1];
	int64_t		 ids[FUZZ_NUSERS];
	struct strbuf	 out;	/* what the last request wrote on stdout */
};

/* The one instance of a target (libFuzzer runs one input at a time). */
extern struct fuzz_app fuzz_app;
/* 1 (the default): a JSON answer must parse, and no answer is a 500
 * (see fuzz_request). */
extern int fuzz_check_json;
extern int fuzz_check_500;

/*
 * Sets up fuzz_app: config defaults, database and archive in a new temp
 * directory (removed at exit), redis_url as given (a unix path that does
 * not exist makes every cached read a BYPASS), migration, users, a room
 * with the agent and the customer in it, a message and a ticket. Aborts
 * on any failure: a target that cannot start must not look like one that
 * found nothing.
 */
void fuzz_app_init(const char *prog, const char *redis_url);

/*
 * fuzz_app.c is every target's LLVMFuzzerInitialize: fuzz_app_init under
 * the program's name with Redis unreachable (FUZZ_NO_REDIS), then the
 * target's own fuzz_target_init if it has one.
 */
#define FUZZ_NO_REDIS	"unix:///nonexistent/fuzz/redis.sock"
void fuzz_target_init(void) __attribute__((weak));
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The bearer token of a placeholder ("@admin", ...), or NULL. */
const char *fuzz_token(const char *placeholder);

/*
 * Undoes what a request may have done to the fixture that every later
 * input relies on: revoked or expiring tokens, disabled users, changed
 * roles (the users' first tokens, ids 1..4). Cheap when nothing
 * changed; call it after a request that may have.
 */
void fuzz_app_repair(void);

/*
 * Runs one FastCGI request through http_req_init and serve_dispatch:
 * envp is NULL-terminated "NAME=VALUE" strings, the body is stdin (EOF
 * after len bytes). The response lands in fuzz_app.out. Aborts if no
 * answer was given or the answer is malformed (the invariants a client
 * relies on). Returns the status.
 */
int fuzz_request(char **envp, const char *body, size_t len);

/* A request from plain values, for set-up and the seeds' tests. */
int fuzz_simple(const char *method, const char *uri, const char *token,
    const char *body);

#endif

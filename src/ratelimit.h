/* ratelimit: per-user limit on posts (API.md section 6), counted in Redis
 * as ratelimit:{user_id}:{window}; not enforced while Redis is down. */
#ifndef CHATDESK_RATELIMIT_H
#define CHATDESK_RATELIMIT_H

#include <stdint.h>

struct app;
struct req;

/* Counts one post. Returns 0 to go on, or -1 after answering 429 with
 * Retry-After (whole seconds to the end of the window, 1..window). */
int ratelimit_post(struct app *, struct req *);

/* Counts one typing event under the same limits, in a window of its own
 * (ratelimit:typing:{user_id}:{window}), so that typing never eats the
 * posts' allowance. Returns 1 to publish it, 0 to drop it silently. */
int ratelimit_typing(struct app *, int64_t user);
/*
 * Counts one sign-in attempt for the email and one for the client address
 * (ratelimit:signin:email:{sha256}:{window}, ratelimit:signin:addr:...),
 * good or bad alike. Returns 0, or -1 after answering 429.
 */
int ratelimit_signin(struct app *, struct req *, const char *email,
    size_t elen);

#endif

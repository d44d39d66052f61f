/* routes: the route table of API.md section 3. Patterns do not overlap,
 * so order is for the reader: by resource, then method. */
#include "autoconf.h"

#include "api.h"

const struct route api_routes[] = {
	{ "GET", "/api/v1/health", api_health, ACCESS_PUBLIC, NULL },

	{ "POST", "/api/v1/users", api_users_create, ACCESS_ADMIN, NULL },
	{ "GET", "/api/v1/users", api_users_list, ACCESS_STAFF, NULL },
	{ "GET", "/api/v1/users/me", api_users_me, ACCESS_USER, NULL },
	{ "GET", "/api/v1/users/{id}", api_users_get, ACCESS_USER, NULL },
	{ "PATCH", "/api/v1/users/{id}", api_users_patch, ACCESS_USER, NULL },
	{ "POST", "/api/v1/users/{id}/tokens", api_users_token, ACCESS_USER, NULL },
	{ "GET", "/api/v1/users/{id}/tokens", api_users_tokens_list, ACCESS_USER, NULL },
	{ "DELETE", "/api/v1/users/{id}/tokens", api_users_tokens_revoke, ACCESS_USER, NULL },
	{ "DELETE", "/api/v1/users/{id}/tokens/{id}", api_users_token_revoke, ACCESS_USER, NULL },
	{ "DELETE", "/api/v1/tokens/current", api_tokens_revoke, ACCESS_USER, NULL },
	{ "POST", "/api/v1/sessions", api_sessions_create, ACCESS_PUBLIC, NULL },

	{ "POST", "/api/v1/rooms", api_rooms_create, ACCESS_STAFF, NULL },
	{ "GET", "/api/v1/rooms", api_rooms_list, ACCESS_USER, NULL },
	{ "GET", "/api/v1/rooms/{id}", api_rooms_get, ACCESS_USER, NULL },
	{ "POST", "/api/v1/rooms/{id}/members", api_rooms_add_member, ACCESS_USER, NULL },
	{ "POST", "/api/v1/rooms/{id}/messages", api_messages_post, ACCESS_USER, NULL },
	{ "GET", "/api/v1/rooms/{id}/messages", api_messages_list, ACCESS_USER,
	  api_messages_ahead },
	{ "POST", "/api/v1/rooms/{id}/typing", api_rooms_typing, ACCESS_USER, NULL },
	{ "GET", "/api/v1/rooms/{id}/presence", api_rooms_presence, ACCESS_USER, NULL },

	{ "POST", "/api/v1/tickets", api_tickets_create, ACCESS_USER, NULL },
	{ "GET", "/api/v1/tickets", api_tickets_list, ACCESS_USER, NULL },
	{ "GET", "/api/v1/tickets/{id}", api_tickets_get, ACCESS_USER,
	  api_tickets_get_ahead },
	{ "PATCH", "/api/v1/tickets/{id}", api_tickets_patch, ACCESS_USER, NULL },
	{ "POST", "/api/v1/tickets/{id}/interactions", api_interactions_post, ACCESS_USER, NULL },
	{ "GET", "/api/v1/tickets/{id}/interactions", api_interactions_list, ACCESS_USER, NULL },

	{ "GET", "/api/v1/notifications", api_notifications_list, ACCESS_USER, NULL },
	{ "POST", "/api/v1/notifications/read", api_notifications_read, ACCESS_USER, NULL },

	{ "GET", "/api/v1/stats/users/{id}", api_stats_user, ACCESS_USER, NULL },

	{ "GET", "/api/v1/cache/stats", api_cache_stats, ACCESS_ADMIN, NULL },
	{ "POST", "/api/v1/cache/invalidate", api_cache_invalidate, ACCESS_ADMIN, NULL },
	{ "POST", "/api/v1/cache/clear", api_cache_clear, ACCESS_ADMIN, NULL },

	{ "GET", "/api/v1/queue", api_queue_stats, ACCESS_ADMIN, NULL },
	{ "POST", "/api/v1/queue/failed/retry", api_queue_retry, ACCESS_ADMIN, NULL },
	{ "DELETE", "/api/v1/queue/failed", api_queue_clear, ACCESS_ADMIN, NULL },

	/* A bearer token or a single-use ?ticket=: checked by the handler. */
	{ "GET", "/api/v1/events", api_events_subscribe, ACCESS_SELF, NULL },
	{ "POST", "/api/v1/events/tickets", api_events_ticket, ACCESS_USER, NULL },
	/* Nchan's subscribe/unsubscribe callbacks (nginx/chatdesk-events.conf). */
	{ "POST", "/api/v1/events/presence/join", api_events_join, ACCESS_INTERNAL, NULL },
	{ "POST", "/api/v1/events/presence/leave", api_events_leave, ACCESS_INTERNAL, NULL },

	{ "GET", "/metrics", api_metrics, ACCESS_METRICS, NULL },
};

const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);

-- chatdesk schema, version 1: every table of API.md.
-- Times are integer Unix milliseconds. Ids are INTEGER PRIMARY KEY, positive
-- 64-bit integers. Messages and interactions are AUTOINCREMENT: the archive
-- task deletes them from this file, and a reused id would collide with the
-- archived row of the same id.

CREATE TABLE users (
	id		INTEGER PRIMARY KEY,
	name		TEXT NOT NULL,
	-- Unique ignoring ASCII case, as API.md compares emails.
	email		TEXT NOT NULL UNIQUE COLLATE NOCASE,
	role		TEXT NOT NULL CHECK (role IN ('customer', 'agent', 'admin')),
	created_at	INTEGER NOT NULL,
	updated_at	INTEGER NOT NULL
);
CREATE INDEX users_role ON users (role, id);

-- Only the SHA-256 of a token is stored; the token is shown once.
CREATE TABLE tokens (
	id		INTEGER PRIMARY KEY,
	user_id		INTEGER NOT NULL REFERENCES users (id),
	hash		BLOB NOT NULL UNIQUE,
	created_at	INTEGER NOT NULL,
	revoked_at	INTEGER
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE rooms (
	id		INTEGER PRIMARY KEY,
	name		TEXT NOT NULL,
	created_by	INTEGER NOT NULL REFERENCES users (id),
	created_at	INTEGER NOT NULL
);

CREATE TABLE room_members (
	room_id		INTEGER NOT NULL REFERENCES rooms (id),
	user_id		INTEGER NOT NULL REFERENCES users (id),
	added_at	INTEGER NOT NULL,
	PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
CREATE INDEX room_members_user ON room_members (user_id, room_id);

CREATE TABLE messages (
	id		INTEGER PRIMARY KEY AUTOINCREMENT,
	room_id		INTEGER NOT NULL REFERENCES rooms (id),
	user_id		INTEGER NOT NULL REFERENCES users (id),
	body		TEXT NOT NULL,
	created_at	INTEGER NOT NULL
);
CREATE INDEX messages_room ON messages (room_id, id);
CREATE INDEX messages_created ON messages (created_at);

CREATE TABLE tickets (
	id		INTEGER PRIMARY KEY,
	subject		TEXT NOT NULL,
	status		TEXT NOT NULL DEFAULT 'open'
			CHECK (status IN ('open', 'pending', 'closed')),
	priority	TEXT NOT NULL DEFAULT 'normal'
			CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
	requester_id	INTEGER NOT NULL REFERENCES users (id),
	assignee_id	INTEGER REFERENCES users (id),
	created_at	INTEGER NOT NULL,
	updated_at	INTEGER NOT NULL,
	last_activity_at INTEGER NOT NULL,
	closed_at	INTEGER
);
CREATE INDEX tickets_requester ON tickets (requester_id, id);
CREATE INDEX tickets_assignee ON tickets (assignee_id, id);
CREATE INDEX tickets_status ON tickets (status, id);
-- close_inactive_tickets walks open and pending tickets by activity.
CREATE INDEX tickets_activity ON tickets (last_activity_at)
	WHERE status IN ('open', 'pending');
-- archive_old_interactions walks closed tickets by closing time.
CREATE INDEX tickets_closed ON tickets (closed_at) WHERE closed_at IS NOT NULL;

CREATE TABLE interactions (
	id		INTEGER PRIMARY KEY AUTOINCREMENT,
	ticket_id	INTEGER NOT NULL REFERENCES tickets (id),
	author_id	INTEGER REFERENCES users (id),	-- NULL: the system
	kind		TEXT NOT NULL CHECK (kind IN ('comment', 'status_change')),
	body		TEXT NOT NULL,
	created_at	INTEGER NOT NULL
);
CREATE INDEX interactions_ticket ON interactions (ticket_id, id);

-- One row per recipient and task: UNIQUE (task_id, user_id) makes a task
-- that runs twice write each notification once.
CREATE TABLE notifications (
	id		INTEGER PRIMARY KEY,
	user_id		INTEGER NOT NULL REFERENCES users (id),
	event		TEXT NOT NULL,
	ticket_id	INTEGER NOT NULL,
	task_id		TEXT NOT NULL,
	created_at	INTEGER NOT NULL,
	read_at		INTEGER,
	delivered_at	INTEGER,	-- accepted by notify_command
	UNIQUE (task_id, user_id)
);
CREATE INDEX notifications_user ON notifications (user_id, id);

-- Tasks written in the same transaction as the change that caused them,
-- pushed to tasks:pending after commit, deleted once pushed (API.md 5).
CREATE TABLE task_outbox (
	id		INTEGER PRIMARY KEY,
	task		TEXT NOT NULL,
	created_at	INTEGER NOT NULL
);

-- Cache keys whose invalidation failed while Redis was down; replayed by
-- the first process that reconnects, before it reads the cache again.
CREATE TABLE cache_pending (
	key		TEXT PRIMARY KEY,	-- with the prefix
	pattern		INTEGER NOT NULL DEFAULT 0,	-- 1: a SCAN pattern
	created_at	INTEGER NOT NULL
);

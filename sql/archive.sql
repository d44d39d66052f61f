-- chatdesk archive database (archive_db_path), attached as "archive".
-- Applied by every `chatdeskctl migrate`; every statement is idempotent.
-- Rows keep their ids, so copies are INSERT OR IGNORE by primary key and a
-- rerun of an interrupted move is harmless.

CREATE TABLE IF NOT EXISTS archive.interactions (
	id		INTEGER PRIMARY KEY,
	ticket_id	INTEGER NOT NULL,
	author_id	INTEGER,
	kind		TEXT NOT NULL,
	body		TEXT NOT NULL,
	created_at	INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS archive.interactions_ticket
	ON interactions (ticket_id, id);

CREATE TABLE IF NOT EXISTS archive.messages (
	id		INTEGER PRIMARY KEY,
	room_id		INTEGER NOT NULL,
	user_id		INTEGER NOT NULL,
	body		TEXT NOT NULL,
	created_at	INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS archive.messages_room ON messages (room_id, id);

-- chatdesk schema, version 3: the task record (API.md section 5).
--
-- Version 1 deleted a task from task_outbox as soon as it was pushed, so
-- from then on Redis held the only copy, and a Redis that came back empty
-- lost every queued task. Now a task's row is written in the transaction
-- of the change that caused it (as before), marked pushed after commit,
-- and kept until a worker has finished it (done or dead); a worker run
-- that finds the queue's Redis has lost data pushes every unfinished task
-- again. Finished rows are pruned by the worker.
CREATE TABLE tasks (
	id		INTEGER PRIMARY KEY,	-- creation order
	task_id		TEXT NOT NULL UNIQUE,	-- the task's "id"
	task		TEXT NOT NULL,		-- the JSON as first pushed
	created_at	INTEGER NOT NULL,
	pushed_at	INTEGER,		-- NULL: not yet in Redis
	finished_at	INTEGER,		-- NULL: unfinished
	result		TEXT CHECK (result IN ('done', 'dead')),
	CHECK ((finished_at IS NULL) = (result IS NULL))
);
-- The outbox (not yet pushed), the unfinished (pushed again after a loss),
-- the finished (pruned oldest first).
CREATE INDEX tasks_unpushed ON tasks (id) WHERE pushed_at IS NULL;
CREATE INDEX tasks_unfinished ON tasks (id) WHERE finished_at IS NULL;
CREATE INDEX tasks_finished ON tasks (result, id) WHERE finished_at IS NOT NULL;

-- Rows of the old outbox were never pushed.
INSERT INTO tasks (id, task_id, task, created_at)
	SELECT id, coalesce(json_extract(task, '$.id'), 'outbox-' || id), task,
	    created_at FROM task_outbox;
DROP TABLE task_outbox;
-- The outbox keeps its name for operators' queries: the tasks not pushed.
CREATE VIEW task_outbox AS
	SELECT id, task, created_at FROM tasks WHERE pushed_at IS NULL;

-- One row. epoch is written to the queue's Redis (queue:state) by the
-- first worker run; pushed_seq is the highest value of queue:state's seq
-- (counted up by every push) that a push saw. A Redis whose epoch is
-- missing or different, or whose seq is below pushed_seq, lost data.
-- created_at: when this schema was applied (a fresh install's creation),
-- from which worker_stale_s counts while no worker run ever succeeded.
CREATE TABLE queue_state (
	id		INTEGER PRIMARY KEY CHECK (id = 1),
	epoch		TEXT NOT NULL,
	epoch_written	INTEGER NOT NULL DEFAULT 0,
	pushed_seq	INTEGER NOT NULL DEFAULT 0,
	created_at	INTEGER NOT NULL,
	worker_last_run_at	INTEGER,
	worker_last_success_at	INTEGER
);
INSERT INTO queue_state (id, epoch, created_at) VALUES (1,
	lower(hex(randomblob(16))),
	CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));

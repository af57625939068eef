-- enqueue_batch.lua writes a batch of tasks of one queue, each exactly as
-- asynq v0.26's Client.Enqueue does (internal/rdb/rdb.go: enqueueCmd,
-- enqueueUniqueCmd, scheduleCmd and scheduleUniqueCmd, whose logic is
-- repeated below). The script is atomic, so no task is ever half-written.
-- All keys carry the queue's {qname} hash tag, so one call stays in one
-- Redis Cluster slot.
--
-- KEYS[1] -> asynq:{<qname>}:pending
-- KEYS[2] -> asynq:{<qname>}:scheduled
-- ARGV[1] -> current Unix time in nanoseconds (pending_since)
-- then, per task, its kind and a run of KEYS and ARGV:
--   "e"  pending:           KEYS task key;             ARGV "e", ID, msg
--   "eu" pending, unique:   KEYS unique key, task key; ARGV "eu", ID, msg, unique TTL (s)
--   "s"  scheduled:         KEYS task key;             ARGV "s", ID, msg, process-at (Unix s)
--   "su" scheduled, unique: KEYS unique key, task key; ARGV "su", ID, msg, unique TTL (s), process-at (Unix s)
-- where the task key is asynq:{<qname>}:t:<ID>, msg the protobuf
-- asynq.TaskMessage and the unique key asynq:{<qname>}:unique:<type>:<md5
-- of payload>.
--
-- Returns one integer per task, as asynq's scripts do: 1 written, 0 task
-- ID already exists, -1 unique key held (a duplicate).
--
-- The LPUSHes and ZADDs are gathered and sent at the end, 500 members per
-- call: LPUSH k a b leaves the same list as LPUSH k a; LPUSH k b, and the
-- script is atomic, so the result equals asynq's per-task calls.
local now = ARGV[1]
local out, pend, sched = {}, {}, {}
local k, a = 3, 2
while a <= #ARGV do
	local kind, id, msg = ARGV[a], ARGV[a+1], ARGV[a+2]
	local r = 1
	if kind == "e" then
		if redis.call("EXISTS", KEYS[k]) == 1 then
			r = 0
		else
			redis.call("HSET", KEYS[k], "msg", msg, "state", "pending", "pending_since", now)
			pend[#pend+1] = id
		end
		k, a = k + 1, a + 3
	elseif kind == "eu" then
		if not redis.call("SET", KEYS[k], id, "NX", "EX", ARGV[a+3]) then
			r = -1
		elseif redis.call("EXISTS", KEYS[k+1]) == 1 then
			r = 0
		else
			redis.call("HSET", KEYS[k+1], "msg", msg, "state", "pending", "pending_since", now, "unique_key", KEYS[k])
			pend[#pend+1] = id
		end
		k, a = k + 2, a + 4
	elseif kind == "s" then
		if redis.call("EXISTS", KEYS[k]) == 1 then
			r = 0
		else
			redis.call("HSET", KEYS[k], "msg", msg, "state", "scheduled")
			sched[#sched+1] = ARGV[a+3]
			sched[#sched+1] = id
		end
		k, a = k + 1, a + 4
	elseif kind == "su" then
		if not redis.call("SET", KEYS[k], id, "NX", "EX", ARGV[a+3]) then
			r = -1
		elseif redis.call("EXISTS", KEYS[k+1]) == 1 then
			r = 0
		else
			redis.call("HSET", KEYS[k+1], "msg", msg, "state", "scheduled", "unique_key", KEYS[k])
			sched[#sched+1] = ARGV[a+4]
			sched[#sched+1] = id
		end
		k, a = k + 2, a + 5
	else
		return redis.error_reply("enqueue_batch: unknown kind " .. tostring(kind))
	end
	out[#out+1] = r
end
for i = 1, #pend, 500 do
	redis.call("LPUSH", KEYS[1], unpack(pend, i, math.min(i + 499, #pend)))
end
for i = 1, #sched, 1000 do
	redis.call("ZADD", KEYS[2], unpack(sched, i, math.min(i + 999, #sched)))
end
return out

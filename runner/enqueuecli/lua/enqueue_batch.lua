-- enqueue_batch.lua writes a batch of tasks of one queue, each exactly as
-- asynq v0.26's Client.Enqueue does (internal/rdb/rdb.go: enqueueCmd,
-- enqueueUniqueCmd, scheduleCmd, scheduleUniqueCmd, whose bodies are
-- repeated below unchanged). The script is atomic, so no task is ever
-- half-written. All keys carry the queue's {qname} hash tag, so one call
-- stays in one Redis Cluster slot.
--
-- Each task takes a run of KEYS and ARGV, told apart by its kind in
-- ARGV[a]:
--   "e"  pending:           KEYS task key, pending list
--                           ARGV "e", msg, task ID, now (Unix ns)
--   "eu" pending, unique:   KEYS unique key, task key, pending list
--                           ARGV "eu", task ID, unique TTL (s), msg, now (Unix ns)
--   "s"  scheduled:         KEYS task key, scheduled zset
--                           ARGV "s", msg, process-at (Unix s), task ID
--   "su" scheduled, unique: KEYS unique key, task key, scheduled zset
--                           ARGV "su", task ID, unique TTL (s), process-at (Unix s), msg
-- where task key is asynq:{q}:t:<id>, msg the protobuf asynq.TaskMessage
-- and the unique key asynq:{q}:unique:<type>:<md5 of payload>.
--
-- Returns one integer per task, as asynq's scripts do: 1 written, 0 task
-- ID already exists, -1 unique key held (a duplicate).
--
-- The LPUSHes and ZADDs are collected and sent at the end, a few hundred
-- members per call: LPUSH k a b leaves the list as LPUSH k a; LPUSH k b
-- does, and the script is atomic, so the result is the same as asynq's
-- per-task calls.
local out = {}
local pushes, adds, order = {}, {}, {}
local function later(t, key, ...)
	if not t[key] then
		t[key] = {}
		order[#order+1] = {t, key}
	end
	local l = t[key]
	for _, v in ipairs({...}) do
		l[#l+1] = v
	end
end
local k, a = 1, 1
while a <= #ARGV do
	local kind = ARGV[a]
	local r
	if kind == "e" then
		if redis.call("EXISTS", KEYS[k]) == 1 then
			r = 0
		else
			redis.call("HSET", KEYS[k], "msg", ARGV[a+1], "state", "pending", "pending_since", ARGV[a+3])
			later(pushes, KEYS[k+1], ARGV[a+2])
			r = 1
		end
		k, a = k + 2, a + 4
	elseif kind == "eu" then
		if not redis.call("SET", KEYS[k], ARGV[a+1], "NX", "EX", ARGV[a+2]) then
			r = -1
		elseif redis.call("EXISTS", KEYS[k+1]) == 1 then
			r = 0
		else
			redis.call("HSET", KEYS[k+1], "msg", ARGV[a+3], "state", "pending", "pending_since", ARGV[a+4],
				"unique_key", KEYS[k])
			later(pushes, KEYS[k+2], ARGV[a+1])
			r = 1
		end
		k, a = k + 3, a + 5
	elseif kind == "s" then
		if redis.call("EXISTS", KEYS[k]) == 1 then
			r = 0
		else
			redis.call("HSET", KEYS[k], "msg", ARGV[a+1], "state", "scheduled")
			later(adds, KEYS[k+1], ARGV[a+2], ARGV[a+3])
			r = 1
		end
		k, a = k + 2, a + 4
	elseif kind == "su" then
		if not redis.call("SET", KEYS[k], ARGV[a+1], "NX", "EX", ARGV[a+2]) then
			r = -1
		elseif redis.call("EXISTS", KEYS[k+1]) == 1 then
			r = 0
		else
			redis.call("HSET", KEYS[k+1], "msg", ARGV[a+4], "state", "scheduled", "unique_key", KEYS[k])
			later(adds, KEYS[k+2], ARGV[a+3], ARGV[a+1])
			r = 1
		end
		k, a = k + 3, a + 5
	else
		return redis.error_reply("enqueue_batch: unknown kind " .. tostring(kind))
	end
	out[#out+1] = r
end
for _, o in ipairs(order) do
	local t, key = o[1], o[2]
	local cmd = t == pushes and "LPUSH" or "ZADD"
	local l = t[key]
	for i = 1, #l, 500 do
		redis.call(cmd, key, unpack(l, i, math.min(i + 499, #l)))
	end
end
return out

-- Adds a header to a stored task's message (asynq v0.26's task hash).
-- KEYS[1]: the task hash, asynq:{<queue>}:t:<id>
-- ARGV[1]: the protobuf encoding of one headers map entry (AppendHeader)
-- Returns 1 when the header was added, 0 when the task does not exist.
local msg = redis.call("HGET", KEYS[1], "msg")
if not msg then
	return 0
end
redis.call("HSET", KEYS[1], "msg", msg .. ARGV[1])
return 1

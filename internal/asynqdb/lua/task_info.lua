-- task_info.lua reads what asynq's Inspector.GetTaskInfo reports of a task
-- (asynq v0.26's getTaskInfoCmd, internal/rdb/inspect.go), in one call that
-- the caller's deadline bounds.
--
-- KEYS[1]: asynq's task hash (asynq:{QUEUE}:t:ID).
-- ARGV[1]: the task ID.
-- ARGV[2]: now, Unix seconds (a pending task's next process time).
-- ARGV[3]: the queue's key prefix (asynq:{QUEUE}:).
--
-- Returns {msg, state, next process time in Unix seconds or 0, result}, or
-- nil when the task does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return nil
end
local msg, state, result = unpack(redis.call('HMGET', KEYS[1], 'msg', 'state', 'result'))
local at = 0
if state == 'scheduled' or state == 'retry' then
  at = redis.call('ZSCORE', ARGV[3] .. state, ARGV[1]) or 0
elseif state == 'pending' then
  at = ARGV[2]
end
return {msg, state, at, result or ''}

-- wake.lua runs a waiting task now: a task in asynq's retry or scheduled
-- set moves to its queue's pending list, as asynq's forwarder would move
-- it when due. Unlike asynq's Inspector.RunTask it leaves every other task
-- alone: a completed task (kept for its retention) must never run again.
--
-- KEYS[1]: the task hash, asynq:{<queue>}:t:<id>.
-- KEYS[2]: the pending list, asynq:{<queue>}:pending.
-- KEYS[3]: the retry set, asynq:{<queue>}:retry.
-- KEYS[4]: the scheduled set, asynq:{<queue>}:scheduled.
-- ARGV[1]: the task ID.
-- ARGV[2]: now in Unix nanoseconds (asynq's pending_since).
--
-- Returns 1 when the task was moved, 0 when it was not waiting there.
local state, group = unpack(redis.call('HMGET', KEYS[1], 'state', 'group'))
local set
if state == 'retry' then
  set = KEYS[3]
elseif state == 'scheduled' then
  set = KEYS[4]
else
  return 0
end
if (group and group ~= '') or redis.call('ZREM', set, ARGV[1]) == 0 then
  return 0
end
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'state', 'pending', 'pending_since', ARGV[2])
return 1

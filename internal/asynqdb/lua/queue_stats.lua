-- queue_stats.lua reads what the queue metrics export for one asynq queue:
-- its task counts by state and when its oldest pending task became
-- pending. It reads asynq v0.26's keys (all in the queue's {QUEUE} slot),
-- as asynq's own Inspector.GetQueueInfo does, without the memory sampling
-- that call adds.
--
-- KEYS[1]: asynq:{QUEUE}:pending   (list; the oldest task at the right end)
-- KEYS[2]: asynq:{QUEUE}:active    (list)
-- KEYS[3]: asynq:{QUEUE}:scheduled (sorted set)
-- KEYS[4]: asynq:{QUEUE}:retry     (sorted set)
-- KEYS[5]: asynq:{QUEUE}:archived  (sorted set)
-- KEYS[6]: asynq:{QUEUE}:completed (sorted set)
-- ARGV[1]: the prefix of the queue's task hashes, asynq:{QUEUE}:t:
--
-- Returns {pending, active, scheduled, retry, archived, completed,
-- pending_since of the oldest pending task in Unix nanoseconds as a string,
-- or "0" when none is pending}.
local pending = redis.call('LLEN', KEYS[1])
local since = '0'
if pending > 0 then
  local id = redis.call('LINDEX', KEYS[1], -1)
  if id then
    since = redis.call('HGET', ARGV[1] .. id, 'pending_since') or '0'
  end
end
return {
  pending,
  redis.call('LLEN', KEYS[2]),
  redis.call('ZCARD', KEYS[3]),
  redis.call('ZCARD', KEYS[4]),
  redis.call('ZCARD', KEYS[5]),
  redis.call('ZCARD', KEYS[6]),
  since,
}

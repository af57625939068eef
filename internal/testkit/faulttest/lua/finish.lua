-- finish.lua records the end of a handler run and, when the run succeeded,
-- its side effect: a fenced write that is refused when a later grant of the
-- lock has been seen since the run began.
--
-- KEYS[1]: the event list.
-- KEYS[2]: the fence hash (lock key -> largest fence seen).
-- KEYS[3]: the stale list.
-- KEYS[4]: the effects hash (dedupe key -> side effects applied).
-- KEYS[5]: the done hash (job ID -> side effects applied).
-- ARGV[1]: the event, JSON.
-- ARGV[2]: the lock key, or "".
-- ARGV[3]: the fence.
-- ARGV[4]: "1" to apply the side effect, "0" to only record the end.
-- ARGV[5]: the dedupe key, or "".
-- ARGV[6]: the job ID.
--
-- Returns 1 when the effect was applied (or not asked for), 0 when the
-- fence was stale and the effect refused.
redis.call('RPUSH', KEYS[1], ARGV[1])
if ARGV[4] ~= '1' then
  return 1
end
if ARGV[2] ~= '' then
  local cur = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
  if tonumber(ARGV[3]) < cur then
    redis.call('RPUSH', KEYS[3], ARGV[1])
    return 0
  end
end
if ARGV[5] ~= '' then
  redis.call('HINCRBY', KEYS[4], ARGV[5], 1)
end
redis.call('HINCRBY', KEYS[5], ARGV[6], 1)
return 1

-- begin.lua records the start of a handler run in the ledger and checks the
-- run's fencing token against the fenced resource.
--
-- KEYS[1]: the event list.
-- KEYS[2]: the fence hash (lock key -> largest fence seen).
-- KEYS[3]: the stale list (one entry per rejected fence).
-- ARGV[1]: the event, JSON, with fields lock and fence.
-- ARGV[2]: the lock key, or "" for a run without a lock.
-- ARGV[3]: the fence (-1 when the run has none although it asked for a lock).
--
-- Returns 1 when the fence was accepted (or no lock is involved), 0 when it
-- was stale: not larger than the largest fence seen for the key.
redis.call('RPUSH', KEYS[1], ARGV[1])
if ARGV[2] == '' then
  return 1
end
local fence = tonumber(ARGV[3])
local cur = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
if fence <= cur then
  redis.call('RPUSH', KEYS[3], ARGV[1])
  return 0
end
redis.call('HSET', KEYS[2], ARGV[2], fence)
return 1

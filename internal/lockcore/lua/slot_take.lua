-- slot_take.lua takes one of a dependency's concurrency slots, timed by
-- Redis server time so that replicas' clocks do not matter.
--
-- KEYS[1]: the slot set: a sorted set of holders, member = owner token,
--          score = the holder's lease expiry in milliseconds.
-- KEYS[2]: the waiters: a list of the refused, oldest first, each an
--          opaque string given by the caller (ARGV[4]).
-- ARGV[1]: the owner token (128 random bits, 32 hex digits).
-- ARGV[2]: the number of slots.
-- ARGV[3]: the lease TTL in milliseconds.
-- ARGV[4]: the waiter to remember if refused; empty: none.
--
-- Holders whose lease expired (a worker that died) are dropped first.
-- Returns {1, 0} when a slot was taken, or {0, ms} when all are held, where
-- ms is how long until the soonest holder's lease runs out unless renewed.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  if ARGV[4] ~= '' then
    redis.call('RPUSH', KEYS[2], ARGV[4])
    redis.call('LTRIM', KEYS[2], -10000, -1)
    redis.call('PEXPIRE', KEYS[2], ARGV[3])
  end
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, math.max(tonumber(first[2]) - now, 0)}
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, 0}

-- slot_extend.lua renews the lease of a concurrency slot, if still held.
--
-- KEYS[1]: the slot set (see slot_take.lua).
-- ARGV[1]: the owner token.
-- ARGV[2]: the new TTL in milliseconds.
--
-- Returns 1 when renewed, 0 when the slot is gone (released, or its lease
-- ran out).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local exp = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not exp or tonumber(exp) <= now then
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1

-- extend.lua resets the TTL of a lock or in-flight marker, if still owned.
--
-- KEYS[1]: the lock key or in-flight marker key.
-- ARGV[1]: the expected value: the owner token of a lock, the task ID of a
--          marker.
-- ARGV[2]: the new TTL in milliseconds.
--
-- Returns 1 when extended, 0 when the key is gone, -1 when it holds
-- another value (another owner).
local v = redis.call('GET', KEYS[1])
if not v then
  return 0
end
if v ~= ARGV[1] then
  return -1
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1

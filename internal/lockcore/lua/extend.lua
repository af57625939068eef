-- extend.lua resets the TTL of an in-flight marker, if still owned.
--
-- KEYS[1]: the in-flight marker key.
-- ARGV[1]: the expected value: the marker's (token ':' task ID).
-- ARGV[2]: the new TTL in milliseconds.
--
-- Returns 1 when extended, 0 when the key is gone, -1 when it holds
-- another value (another owner, or the completed record).
local v = redis.call('GET', KEYS[1])
if not v then
  return 0
end
if v ~= ARGV[1] then
  return -1
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1

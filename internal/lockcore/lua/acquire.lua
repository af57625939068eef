-- acquire.lua takes a lock and hands out the next fencing token of its key.
--
-- KEYS[1]: the lock key; its value is the owner token, with the lock TTL.
-- KEYS[2]: the fence key (the last token handed out, kept 24h), in the slot
--          of KEYS[1].
-- ARGV[1]: the owner token (128 random bits, 32 hex digits).
-- ARGV[2]: the lock TTL in milliseconds.
--
-- Returns {1, fence} when the lock is granted, including when ARGV[1]
-- already holds it (a retry after a lost reply; the TTL is reset and a new,
-- larger fence handed out), or {0, pttl} when another owner holds it, where
-- pttl is the remaining TTL of the lock in milliseconds.
--
-- nextFence comes from fence.lua, loaded in front of this script.

if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return {0, redis.call('PTTL', KEYS[1])}
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return {1, nextFence(KEYS[2])}

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

-- nextFence returns the next fencing token of the fence key k: the
-- larger of the last token + 1 and the server's TIME in microseconds, so
-- that a replica promoted after losing the last grants still hands out
-- larger tokens than the dead primary did (see lockstore's doc, Fencing).
-- Two commands: TIME and SET ... GET (Redis >= 6.2); a third only when
-- the last token is not behind the clock. The key lives 24 hours after
-- its last grant (fenceTTL in keys.go; INCRBY keeps the TTL SET gave): an
-- expired key is no risk, since the clock has passed its last token by
-- then unless it was set back by more than a day.
local function nextFence(k)
  local t = redis.call('TIME')
  local now = t[1] .. string.format('%06d', tonumber(t[2]))
  local last = redis.call('SET', k, now, 'PX', 86400000, 'GET')
  if last and tonumber(last) >= tonumber(now) then
    return redis.call('INCRBY', k, tonumber(last) - tonumber(now) + 1)
  end
  return tonumber(now)
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return {0, redis.call('PTTL', KEYS[1])}
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return {1, nextFence(KEYS[2])}

-- lock_extend.lua moves the deadline of a lock, if still held by its owner.
--
-- KEYS[1]: the lock key (see lock.lua).
-- ARGV[1]: the owner token.
-- ARGV[2]: the new deadline, in milliseconds from now (server time).
-- ARGV[3]: the lease's fence (the key keeps it).
--
-- Returns 1 when extended, 0 when the lock is free or gone or its deadline
-- has passed (the lease ran out; the key is left as it was), -1 when
-- another owner holds it. Two commands (TIME, SET GET); one more when the
-- lock was not the caller's to extend.
--
-- lockParse, lockValue and serverNow come from lock.lua, loaded in front.
local _, ms = serverNow()
local old = redis.call('SET', KEYS[1], lockValue(tonumber(ARGV[3]), ms + tonumber(ARGV[2]), ARGV[1]), 'PX', lockKeyTTL, 'GET')
if old then
  local _, d, o = lockParse(old)
  if o == ARGV[1] and d > ms then
    return 1
  end
  redis.call('SET', KEYS[1], old, 'KEEPTTL')
  if o ~= nil and o ~= '' and o ~= ARGV[1] and d > ms then
    return -1
  end
  return 0
end
redis.call('DEL', KEYS[1])
return 0

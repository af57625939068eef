-- acquire.lua takes a lock and hands out the next fencing token of its key.
--
-- KEYS[1]: the lock key (see lock.lua for its value).
-- ARGV[1]: the owner token (128 random bits, 32 hex digits).
-- ARGV[2]: the lock TTL in milliseconds.
--
-- Returns {1, fence} when the lock is granted, including when ARGV[1]
-- already holds it (a retry after a lost reply; the deadline is reset and
-- a new, larger fence handed out), or {0, pttl} when another owner holds
-- it, where pttl is the time to its deadline in milliseconds.
--
-- lockTake comes from lock.lua, loaded in front of this script.

return lockTake(KEYS[1], ARGV[1], ARGV[2])

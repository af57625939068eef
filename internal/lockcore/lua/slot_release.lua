-- slot_release.lua gives a concurrency slot back and hands out the
-- longest-waiting waiter, for the caller to wake.
--
-- KEYS[1]: the slot set (see slot_take.lua).
-- KEYS[2]: the waiters list (see slot_take.lua).
-- ARGV[1]: the owner token.
--
-- Returns {1, waiter} when the slot was held and is released, {0, waiter}
-- when it was already gone; waiter is '' when none waits.
local released = redis.call('ZREM', KEYS[1], ARGV[1])
local waiter = redis.call('LPOP', KEYS[2]) or ''
return {released, waiter}

-- slot_release.lua gives a concurrency slot back.
--
-- KEYS[1]: the slot set (see slot_take.lua).
-- ARGV[1]: the owner token.
--
-- Returns {1} when the slot was held and is released, {0} when it was
-- already gone.
return {redis.call('ZREM', KEYS[1], ARGV[1])}

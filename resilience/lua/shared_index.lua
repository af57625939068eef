-- shared_index.lua notes a shared breaker's name in the index of shared
-- breakers, a sorted set by the time each name was last noted, and keeps
-- the index bounded in size and life.
--
-- KEYS[1]: the index (jobrunner:breakers).
-- ARGV[1]: the breaker's name.
-- ARGV[2]: now, in Unix milliseconds of the caller's clock.
-- ARGV[3]: the most names kept: those noted least recently go first.
-- ARGV[4]: the index's TTL in milliseconds, renewed by every note.
--
-- Returns the number of names in the index.
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[3]) + 1))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return redis.call('ZCARD', KEYS[1])

-- index.lua notes a batch in the index of batches (jobrunner:batches), for
-- the status page. The index is in a slot of its own: this script touches
-- that one key.
--
-- KEYS[1]: the index, a sorted set of batch IDs scored by open time.
-- ARGV[1]: the batch's open time, Unix ms.
-- ARGV[2]: the batch ID.
-- ARGV[3]: the most IDs kept (the newest).
-- ARGV[4]: the index's TTL in milliseconds: the index's TTL only grows, so
--          that a batch opened with a long TTL stays listed after shorter
--          ones are opened.
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[3]) - 1)
local ttl = tonumber(ARGV[4])
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1

-- open creates a batch.
-- KEYS[1]: the batch's meta hash.
-- ARGV[1]: the batch's TTL in ms; ARGV[2..]: field, value pairs (the callback).
-- Returns 1, or 0 when a batch with this ID exists already.
if redis.call("EXISTS", KEYS[1]) == 1 then
  return 0
end
redis.call("HSET", KEYS[1], "total", 0, "done", 0, "succeeded", 0, "archived", 0,
  "closed", 0, "ttl_ms", ARGV[1], unpack(ARGV, 2))
redis.call("PEXPIRE", KEYS[1], ARGV[1])
return 1

-- idem_finish.lua stores the answer of the request that claimed an
-- idempotency key, for its retries to replay.
--
-- KEYS[1]: the key's record, a hash.
-- ARGV[1]: the owner token of the claim.
-- ARGV[2]: the answer's status; ARGV[3]: its body; ARGV[4]: its Location.
-- ARGV[5]: how long the answer is kept, in milliseconds.
--
-- Only the claim's owner writes: a claim that expired, and was taken by
-- another request meanwhile, is left alone. Returns 1 if written, else 0.
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'done', 'status', ARGV[2], 'body', ARGV[3], 'location', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1

-- idem_begin.lua claims an idempotency key for one request, or returns
-- the record of the request that claimed it first.
--
-- KEYS[1]: the key's record (jobrunner:idempotency:HASH), a hash.
-- ARGV[1]: the request's fingerprint (method, path, query and body).
-- ARGV[2]: the claiming request's owner token, random.
-- ARGV[3]: the claim's TTL in milliseconds: longer than the request may
--          run, so that a crashed server's claim expires.
--
-- Returns nil when the key was free and is now claimed (state pending),
-- else {state, fingerprint, status, body, location} of the record there.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HMGET', KEYS[1], 'state', 'fp', 'status', 'body', 'location')
end
redis.call('HSET', KEYS[1], 'state', 'pending', 'fp', ARGV[1], 'owner', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return nil

-- idem_release.lua gives up a claim on an idempotency key: the request
-- failed without an answer worth replaying (invalid, conflicting, or Redis
-- failed), so a retry may run at once.
--
-- KEYS[1]: the key's record, a hash.
-- ARGV[1]: the owner token of the claim.
--
-- Only a pending claim of this owner is deleted. Returns 1 if deleted.
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'state') ~= 'pending' then
  return 0
end
return redis.call('DEL', KEYS[1])

-- release_unique.lua frees a task's asynq uniqueness lock for the copy that
-- replaces it (a deferral on the last attempt), so the
-- copy can take it with asynq's own Unique option.
--
-- KEYS[1]: asynq's unique key of the task, asynq:{<queue>}:unique:<type>:<md5>.
-- ARGV[1]: the ID of the task being replaced.
--
-- Returns the lock's remaining TTL in milliseconds when it held ARGV[1] (it
-- is deleted), else 0 (the task had no Unique option, or its lock expired).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local ttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
if ttl < 0 then
  return 0
end
return ttl

-- release.lua deletes locks and in-flight markers, each only if still owned
-- (an atomic compare-and-delete; never GET then DEL from the client).
--
-- KEYS[i]: a lock key or in-flight marker key, for i = 1..n. All keys must
--          share a hash slot on Redis Cluster.
-- ARGV[i]: the expected value of KEYS[i]: owner token or task ID.
-- KEYS[n+1]: optional (one key more than ARGV): a checkpoint fenced by
--          KEYS[1] (see checkpoint_save.lua), deleted when KEYS[1] is.
--
-- Returns an array of n results, one per key: 1 when deleted, 0 when the
-- key was already gone (expired), -1 when it held another value (another
-- owner; left alone).
local out = {}
for i = 1, #ARGV do
  local key = KEYS[i]
  local v = redis.call('GET', key)
  if not v then
    out[i] = 0
  elseif v ~= ARGV[i] then
    out[i] = -1
  else
    redis.call('DEL', key)
    out[i] = 1
  end
end
if #KEYS > #ARGV and out[1] == 1 then
  redis.call('DEL', KEYS[#ARGV + 1])
end
return out

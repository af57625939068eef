-- complete.lua records a job's success under its dedupe key and lets go of
-- its in-flight marker and, optionally, its lock, all in one step.
--
-- KEYS[1]: the in-flight marker key of the dedupe key.
-- KEYS[2]: the completed record key of the dedupe key.
-- KEYS[3]: optional, the lock key, in the same slot on Redis Cluster.
-- ARGV[1]: the task ID (expected value of KEYS[1]).
-- ARGV[2]: the result bytes to keep (may be empty).
-- ARGV[3]: the dedupe window (TTL of KEYS[2]) in milliseconds.
-- ARGV[4]: the lock owner token (when KEYS[3] is given).
--
-- The completed record is written in every case: the job did succeed. The
-- marker and the lock are deleted only when they still hold ARGV[1] and
-- ARGV[4].
--
-- Returns {marker, lock}, each 1 when deleted, 0 when already gone, -1 when
-- held by another owner (left alone); lock is 0 when KEYS[3] is absent.
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
local function release(key, want)
  local v = redis.call('GET', key)
  if not v then
    return 0
  end
  if v ~= want then
    return -1
  end
  redis.call('DEL', key)
  return 1
end
local marker = release(KEYS[1], ARGV[1])
local lock = 0
if #KEYS >= 3 then
  lock = release(KEYS[3], ARGV[4])
end
return {marker, lock}

-- complete.lua records a job's success under its dedupe key and lets go of
-- its in-flight marker and, optionally, its lock, all in one step.
--
-- KEYS[1]: the in-flight marker key of the dedupe key.
-- KEYS[2]: the completed record key of the dedupe key.
-- KEYS[3]: optional, the lock key, in the same slot on Redis Cluster.
-- ARGV[1]: the marker's value (token ':' task ID) as this admission set it.
-- ARGV[2]: the result bytes to keep (may be empty).
-- ARGV[3]: the dedupe window (TTL of KEYS[2]) in milliseconds.
-- ARGV[4]: the lock owner token (when KEYS[3] is given).
--
-- The completed record is written when the job's success is news: the
-- marker is still ours; or it is gone (expired) and no record exists yet;
-- or another task ID holds it (a duplicate admitted after our marker
-- expired: our success still happened). It is not written when another
-- admission of the same task ID holds the marker: a redelivery took it
-- over and fenced this attempt out, and it records the outcome itself, so
-- only one of two overlapping attempts of a task completes the record. The
-- marker and the lock are deleted only when they still hold ARGV[1] and
-- ARGV[4].
--
-- Returns {marker, lock}, each 1 when deleted, 0 when already gone, -1 when
-- held by another owner (left alone); lock is 0 when KEYS[3] is absent.
local function holder(v)
  return string.match(v, '^[^:]*:(.*)$') or v
end
local cur = redis.call('GET', KEYS[1])
local record
if cur == ARGV[1] then
  record = true
elseif not cur then
  record = redis.call('EXISTS', KEYS[2]) == 0
else
  record = holder(cur) ~= holder(ARGV[1])
end
if record then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
end
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

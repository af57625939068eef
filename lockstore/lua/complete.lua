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
-- On the usual path this is three commands: MGET, SET, DEL.
--
-- Returns {marker, lock}, each 1 when deleted, 0 when already gone, -1 when
-- held by another owner (left alone); lock is 0 when KEYS[3] is absent.
local function holder(v)
  return string.match(v, '^[^:]*:(.*)$') or v
end
local cur, held
if #KEYS >= 3 then
  local v = redis.call('MGET', KEYS[1], KEYS[3])
  cur, held = v[1], v[2]
else
  cur = redis.call('GET', KEYS[1])
end
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
local del = {}
local marker, lock = 0, 0
if cur == ARGV[1] then
  del[#del + 1] = KEYS[1]
  marker = 1
elseif cur then
  marker = -1
end
if #KEYS >= 3 then
  if held == ARGV[4] then
    del[#del + 1] = KEYS[3]
    lock = 1
  elseif held then
    lock = -1
  end
end
if #del > 0 then
  redis.call('DEL', unpack(del))
end
return {marker, lock}

-- complete.lua records a job's success under its dedupe key and lets go of
-- its in-flight marker and, optionally, its lock, all in one step.
--
-- KEYS[1]: the state key of the dedupe key (in-flight marker, or completed
--          record: byte 1 then the result bytes).
-- KEYS[2]: the separate record key of the dedupe key (see admit.lua).
-- KEYS[3]: optional, the lock key, in the same slot on Redis Cluster.
-- KEYS[n]: optional, last, when ARGV[5] is '1': the checkpoint key of the
--          dedupe key (see checkpoint_save.lua), in the same slot.
-- ARGV[1]: the marker's value (token ':' task ID) as this admission set it.
-- ARGV[2]: the result bytes to keep (may be empty).
-- ARGV[3]: the dedupe window (TTL of the record) in milliseconds.
-- ARGV[4]: the lock owner token (when KEYS[3] is given; else empty).
-- ARGV[5]: optional, '1' when the last key is a checkpoint key.
--
-- The record is written when the job's success is news: the marker is still
-- ours (the record replaces it in the state key: no key is created or
-- deleted); or it is gone (expired) and no record exists yet (the record
-- goes to the state key); or another task ID holds it (a duplicate admitted
-- after our marker expired: our success still happened; the record goes to
-- KEYS[2], leaving that duplicate's marker alone). It is not written when
-- another admission of the same task ID holds the marker: a redelivery took
-- it over and fenced this attempt out, and it records the outcome itself, so
-- only one of two overlapping attempts of a task completes the record. The
-- lock is deleted only when it still holds ARGV[4]. The checkpoint is
-- deleted unless another admission holds the marker (the job's place is
-- then that admission's): the job is done.
--
-- On the usual path this is three commands (MGET, SET, DEL), two without a
-- lock (GET, SET), and one more (DEL) with a checkpoint.
--
-- Returns {marker, lock}, each 1 when released (the marker: replaced by the
-- record), 0 when already gone, -1 when held by another owner (left alone);
-- lock is 0 when KEYS[3] is absent.
local function holder(v)
  return string.match(v, '^[^:]*:(.*)$') or v
end
local nkeys, checkpoint = #KEYS, nil
if ARGV[5] == '1' then
  checkpoint = KEYS[nkeys]
  nkeys = nkeys - 1
end
local cur, held
if nkeys >= 3 then
  local v = redis.call('MGET', KEYS[1], KEYS[3])
  cur, held = v[1], v[2]
else
  cur = redis.call('GET', KEYS[1])
end
local marker, lock = 0, 0
if cur == ARGV[1] then
  redis.call('SET', KEYS[1], '\1' .. ARGV[2], 'PX', ARGV[3])
  marker = 1
elseif not cur then
  if redis.call('EXISTS', KEYS[2]) == 0 then
    redis.call('SET', KEYS[1], '\1' .. ARGV[2], 'PX', ARGV[3])
  end
elseif string.byte(cur, 1) ~= 1 then
  -- Another admission's marker.
  if holder(cur) ~= holder(ARGV[1]) then
    redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  end
  marker = -1
end
if checkpoint and marker ~= -1 then
  redis.call('DEL', checkpoint)
end
if nkeys >= 3 then
  if held == ARGV[4] then
    redis.call('DEL', KEYS[3])
    lock = 1
  elseif held then
    lock = -1
  end
end
return {marker, lock}

-- complete.lua records a job's success under its dedupe key and lets go of
-- its in-flight marker and, optionally, its lock, all in one step.
--
-- KEYS[1]: the state key of the dedupe key (in-flight marker, or completed
--          record: the digit 1 without a result, else byte 1 then the
--          result bytes; see isRecord in lock.lua).
-- KEYS[2]: optional, the lock key, in the same slot on Redis Cluster.
-- KEYS[n]: optional, when ARGV[7] is '1': the checkpoint key of the
--          dedupe key (see checkpoint_save.lua), in the same slot.
-- KEYS[n]: optional, last, when ARGV[8] is given: the bucket of the record
--          (see bucket.go), in the same slot.
-- ARGV[1]: the marker's value (token ':' task ID) as this admission set it.
-- ARGV[2]: the result bytes to keep (may be empty).
-- ARGV[3]: the dedupe window (TTL of the record) in milliseconds.
-- ARGV[4]: the lock owner token, when KEYS[2] is given and the lock was
--          not taken by the admission that set the marker; empty otherwise
--          (the lock's token is then the marker's first part).
-- ARGV[5]: the marker TTL in milliseconds.
-- ARGV[6]: the lock lease's fence (when KEYS[2] is given; else empty).
-- ARGV[7]: optional, '1' when a checkpoint key is given.
-- ARGV[8]: optional, the record's field in the bucket: a record without a
--          result goes to the bucket (completeBucket) instead of KEYS[1].
-- ARGV[9]: with ARGV[8], the record's expiry in server milliseconds, from
--          the caller's estimate of the server's clock; empty to read TIME
--          (its value is then returned).
-- ARGV[10], ARGV[11]: with ARGV[9], the name and value of the sentinel
--          field of the window's current quarter (see completeBucket).
--
-- The record replaces whatever the state key holds, read by the same
-- command (SET GET), and the old value is put back on the two paths where
-- the success is not news: another completion's record was there (it is
-- kept, for a fresh window), or another admission of the same task ID
-- holds the marker (a redelivery took it over and fenced this attempt out;
-- it records the outcome itself, so only one of two overlapping attempts
-- of a task completes the record; its marker is put back with a full
-- marker TTL, as a renewal would). A marker of another task ID (a
-- duplicate admitted after our marker expired) is replaced: the key is
-- done, and that duplicate is fenced out as a replaced attempt is (its
-- renewal finds the marker lost, its completion records nothing new).
-- The lock is freed only when its owner still holds it. The checkpoint is
-- deleted unless a takeover holds the marker (the job's place is then
-- that admission's): the job is done.
--
-- On the usual path this is one command (SET GET) without a lock, two
-- with one (SET GET for each key), and one more (DEL) with a checkpoint.
--
-- lockRelease, completeBucket, markerTask and isRecord come from lock.lua, loaded in front of this script.
--
-- Returns {marker, lock[, now]}, each 1 when released (the marker: replaced
-- by the record), 0 when already gone, -1 when held by another owner; lock
-- is 0 when KEYS[2] is absent; now is the TIME read when ARGV[9] is empty.
--
-- With a bucket the usual path is GETDEL and HSET, and one more (SET GET)
-- with a lock.
local nkeys, checkpoint, bucket = #KEYS, nil, nil
if ARGV[8] and ARGV[8] ~= '' then
  bucket = KEYS[nkeys]
  nkeys = nkeys - 1
end
if ARGV[7] == '1' then
  checkpoint = KEYS[nkeys]
  nkeys = nkeys - 1
end
local marker, lock, takenOver, now = 0, 0, false, nil
-- With a bucket the marker goes (GETDEL) and the record is a field of the
-- bucket; else the record replaces the marker (SET GET). On the rare paths
-- the old value is put back: a record (GETDEL took its TTL: it is kept
-- for a fresh window) or a takeover's marker.
local cur
if bucket then
  cur = redis.call('GETDEL', KEYS[1])
else
  local record = '1'
  if ARGV[2] ~= '' then
    record = '\1' .. ARGV[2]
  end
  cur = redis.call('SET', KEYS[1], record, 'PX', ARGV[3], 'GET')
end
local recorded = true
if cur == ARGV[1] then
  marker = 1
elseif cur then
  if isRecord(cur) then
    if bucket then
      redis.call('SET', KEYS[1], cur, 'PX', ARGV[3])
    else
      redis.call('SET', KEYS[1], cur, 'KEEPTTL')
    end
    recorded = false
  else
    marker = -1
    if markerTask(cur) == markerTask(ARGV[1]) then
      redis.call('SET', KEYS[1], cur, 'PX', ARGV[5])
      takenOver, recorded = true, false
    end
  end
end
if bucket and recorded then
  now = completeBucket(bucket, ARGV[8], tonumber(ARGV[3]), ARGV[9], ARGV[10], ARGV[11])
end
if checkpoint and not takenOver then
  redis.call('DEL', checkpoint)
end
if nkeys >= 2 then
  local owner = ARGV[4]
  if owner == '' then
    owner = string.match(ARGV[1], '^([^:]*):')
  end
  lock = lockRelease(KEYS[2], owner, ARGV[6])
end
if now then
  return {marker, lock, now}
end
return {marker, lock}

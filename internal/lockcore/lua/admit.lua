-- admit.lua admits a job under a dedupe key and, optionally, takes its lock
-- in the same step: one round trip for marker, lock and fence.
--
-- KEYS[1]: the state key of the dedupe key: while the job runs, its
--          in-flight marker (the admission token, ':', the task ID); once it
--          succeeded, its completed record (see isRecord in lock.lua).
-- KEYS[2]: optional, the lock key (see lock.lua). On Redis Cluster both
--          keys must share a slot; the caller runs two steps otherwise.
-- KEYS[n]: optional, last, ARGV[5] of them: the buckets where a completed
--          record without a result may be (see bucket.go), in the slot of
--          KEYS[1] on Redis Cluster.
-- ARGV[1]: the marker's value: the admission token (32 hex digits, no ':'),
--          which is also the lock's owner token, then ':' and the task ID.
-- ARGV[2]: the in-flight marker TTL in milliseconds.
-- ARGV[3]: the lock TTL in milliseconds (when KEYS[2] is given; else
--          empty).
-- ARGV[4]: optional, the record's field in the buckets.
-- ARGV[5]: optional, the number of bucket keys.
--
-- Returns {code, value}:
--   {1, fence}  admitted: the marker was free; it now holds ARGV[1].
--   {2, fence}  taken over: the marker was held for the same task ID (a
--               redelivery); it now holds this admission's token, so the
--               attempt it replaced can no longer renew or complete it.
--   {3, holder, pttl} in flight elsewhere: the marker holds another task
--               ID, returned as holder, for pttl more milliseconds unless
--               renewed.
--   {4, result} done: a completed record exists; result is its value.
--   {5, pttl}   lock busy: another owner holds KEYS[2]; pttl is the time
--               to its deadline. Nothing was written.
-- fence is 0 when no lock was requested. Codes 3, 4 and 5 leave every key
-- as it was.
--
-- The usual path writes the marker with the command that reads the state
-- (SET NX GET, Redis >= 7.0): one command without a lock, three with one
-- (TIME and SET GET for the lock and its fence), and one more (HGET) per
-- bucket. A record found in a bucket is done while its expiry is ahead of
-- the server's clock (TIME); a record past it is deleted. A busy lock
-- undoes the marker in the same script, so no one sees it.
--
-- lockTake, serverNow, markerTask and isRecord come from lock.lua, loaded in front of this script.

local nkeys = #KEYS
if ARGV[4] and ARGV[4] ~= '' then
  local nb = tonumber(ARGV[5])
  for i = nkeys - nb + 1, nkeys do
    local e = redis.call('HGET', KEYS[i], ARGV[4])
    if e then
      local _, now = serverNow()
      if tonumber(e) > now then
        return {4, ''}
      end
      redis.call('HDEL', KEYS[i], ARGV[4])
    end
  end
  nkeys = nkeys - nb
end
local marker = ARGV[1]
local token, taskID = string.match(marker, '^([^:]*):(.*)$')
local cur = redis.call('SET', KEYS[1], marker, 'NX', 'PX', ARGV[2], 'GET')
if cur then
  if isRecord(cur) then
    return {4, string.sub(cur, 2)}
  end
  local holder = markerTask(cur)
  if holder ~= taskID then
    return {3, holder, redis.call('PTTL', KEYS[1])}
  end
end
local fence = 0
if nkeys >= 2 then
  local r = lockTake(KEYS[2], token, ARGV[3])
  if r[1] == 0 then
    if not cur then
      redis.call('DEL', KEYS[1])
    end
    return {5, r[2]}
  end
  fence = r[2]
end
if cur then
  redis.call('SET', KEYS[1], marker, 'PX', ARGV[2])
  return {2, fence}
end
return {1, fence}

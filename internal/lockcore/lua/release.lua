-- release.lua deletes an in-flight marker and, optionally, frees a lock in
-- its slot, each only if still owned (an atomic compare-and-delete; never
-- GET then DEL from the client).
--
-- KEYS[1]: the in-flight marker key.
-- KEYS[2]: optional, a lock key in the same slot (see lock.lua).
-- ARGV[1]: the marker's expected value (token ':' task ID).
-- ARGV[2]: the lock's owner token (when KEYS[2] is given).
-- ARGV[3]: the lock lease's fence (the key keeps it).
--
-- Returns {marker} or {marker, lock}: 1 when released, 0 when the key was
-- already gone (expired) or the lock free, -1 when it held another value
-- (another owner, or the marker's completed record; left alone).
--
-- leaseHeld and lockRelease come from lock.lua, loaded in front of this script.
local out = {leaseHeld(KEYS[1], ARGV[1])}
if out[1] == 1 then
  redis.call('DEL', KEYS[1])
end
if #KEYS >= 2 then
  out[2] = lockRelease(KEYS[2], ARGV[2], ARGV[3])
end
return out

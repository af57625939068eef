-- checkpoint_load.lua reads a checkpoint for the lease that fences it, if
-- the lease still holds its key, and gives the checkpoint its TTL again.
--
-- KEYS[1]: the fencing key: an in-flight marker or a lock (see lock.lua;
--          a lock whose deadline passed while no one took it still counts
--          as its owner's).
-- KEYS[2]: the checkpoint key, in the same slot on Redis Cluster.
-- ARGV[1]: the lease's token: the marker's value, or the lock's owner.
-- ARGV[2]: the checkpoint's TTL in milliseconds.
--
-- Returns {1, bytes} when there is a checkpoint, {1} when there is none,
-- {0} when KEYS[1] is gone, {-1} when it holds another value. GETEX needs
-- Redis 6.2.
--
-- leaseHeld comes from lock.lua, loaded in front of this script.
local held = leaseHeld(KEYS[1], ARGV[1])
if held ~= 1 then
  return {held}
end
local c = redis.call('GETEX', KEYS[2], 'PX', ARGV[2])
if not c then
  return {1}
end
return {1, c}

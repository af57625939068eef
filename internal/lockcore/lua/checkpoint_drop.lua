-- checkpoint_drop.lua deletes a checkpoint, if the lease that fences it
-- still holds its key: the work it marked the place of is over (given up
-- for good, or completed under a lock).
--
-- KEYS[1]: the fencing key: an in-flight marker or a lock (see lock.lua;
--          a lock whose deadline passed while no one took it still counts
--          as its owner's).
-- KEYS[2]: the checkpoint key, in the same slot on Redis Cluster.
-- ARGV[1]: the lease's token: the marker's value, or the lock's owner.
--
-- Returns 1 when KEYS[1] held ARGV[1] (the checkpoint is gone now, whether
-- or not there was one), 0 when KEYS[1] is gone, -1 when it holds another
-- value; the checkpoint is left alone then.
--
-- leaseHeld comes from lock.lua, loaded in front of this script.
local held = leaseHeld(KEYS[1], ARGV[1])
if held ~= 1 then
  return held
end
redis.call('DEL', KEYS[2])
return 1

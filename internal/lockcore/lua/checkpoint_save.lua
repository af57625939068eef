-- checkpoint_save.lua saves a checkpoint beside the lease that fences it, if
-- the lease still holds its key: the check and the write are one step, so
-- an attempt that lost its marker or lock cannot overwrite the checkpoint
-- of the attempt that replaced it.
--
-- KEYS[1]: the fencing key: an in-flight marker or a lock (see lock.lua;
--          a lock whose deadline passed while no one took it still counts
--          as its owner's).
-- KEYS[2]: the checkpoint key, in the same slot on Redis Cluster.
-- ARGV[1]: the lease's token: the marker's value, or the lock's owner.
-- ARGV[2]: the checkpoint's bytes.
-- ARGV[3]: the checkpoint's TTL in milliseconds.
--
-- Returns 1 when saved, 0 when KEYS[1] is gone or a free lock (the lease
-- expired or was released), -1 when
-- it holds another value (another owner, or the completed record that
-- replaced the marker). Nothing is written unless it returns 1.
--
-- leaseHeld comes from lock.lua, loaded in front of this script.
local held = leaseHeld(KEYS[1], ARGV[1])
if held ~= 1 then
  return held
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1

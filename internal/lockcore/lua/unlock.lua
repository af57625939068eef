-- unlock.lua frees a lock, if still owned, and optionally drops the
-- checkpoint it fences.
--
-- KEYS[1]: the lock key (see lock.lua).
-- KEYS[2]: optional, a checkpoint fenced by the lock (see
--          checkpoint_save.lua), deleted when the lock is released.
-- ARGV[1]: the owner token.
-- ARGV[2]: the lease's fence (the key keeps it).
--
-- Returns {1} when released, {0} when the lock was free or gone, {-1}
-- when another owner holds it (left alone). One command (SET GET), and a
-- DEL for the checkpoint.
--
-- lockRelease comes from lock.lua, loaded in front of this script.
local r = lockRelease(KEYS[1], ARGV[1], ARGV[2])
if r == 1 and #KEYS >= 2 then
  redis.call('DEL', KEYS[2])
end
return {r}

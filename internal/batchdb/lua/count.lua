-- count counts one member of a batch as finished for good, once: a member
-- counted already is not counted again (a job that ran twice, a repeat
-- after a lost reply).
-- KEYS[1]: the meta hash; KEYS[2]: the members hash; KEYS[3]: the archived list.
-- ARGV[1]: the member ID; ARGV[2]: "s" (completed or skipped as a
-- duplicate) or "a" (archived); ARGV[3]: the task ID, listed when archived;
-- ARGV[4]: how many archived task IDs the list keeps at most.
-- Returns {-1, 0, 0} when the batch does not exist, {-2, 0, 0} when the ID
-- is not a member, else due's reply (see due.lua), whether this call
-- counted the member or an earlier one did: a repeat finds the callback
-- still due when the enqueue after the first call did not happen.
if redis.call("EXISTS", KEYS[1]) == 0 then
  return {-1, 0, 0}
end
local v = redis.call("HGET", KEYS[2], ARGV[1])
if not v then
  return {-2, 0, 0}
end
if v == "0" then
  redis.call("HSET", KEYS[2], ARGV[1], ARGV[2])
  redis.call("HINCRBY", KEYS[1], "done", 1)
  if ARGV[2] == "a" then
    redis.call("HINCRBY", KEYS[1], "archived", 1)
    if redis.call("LLEN", KEYS[3]) < tonumber(ARGV[4]) then
      redis.call("RPUSH", KEYS[3], ARGV[3])
    end
  else
    redis.call("HINCRBY", KEYS[1], "succeeded", 1)
  end
  refresh(KEYS[1], KEYS)
end
return due(KEYS[1])

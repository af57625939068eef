-- remove unregisters members whose enqueue failed for certain, so the batch
-- does not wait for them. A member already counted stays.
-- KEYS[1]: the meta hash; KEYS[2]: the members hash; KEYS[3]: the archived list.
-- ARGV: the member IDs.
-- Returns the batch's total, or -1 when the batch does not exist.
if redis.call("EXISTS", KEYS[1]) == 0 then
  return -1
end
local removed = 0
for i = 1, #ARGV do
  if redis.call("HGET", KEYS[2], ARGV[i]) == "0" then
    removed = removed + redis.call("HDEL", KEYS[2], ARGV[i])
  end
end
local total = redis.call("HINCRBY", KEYS[1], "total", -removed)
refresh(KEYS[1], KEYS)
return total

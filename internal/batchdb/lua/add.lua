-- add registers jobs as members of an open batch, before they are enqueued.
-- KEYS[1]: the meta hash; KEYS[2]: the members hash (member ID -> "0"
-- while not counted, then "s" or "a"); KEYS[3]: the archived IDs list.
-- ARGV: the member IDs (an ID already registered is not added twice).
-- Returns the batch's total, -1 when the batch does not exist (never
-- opened, or expired), -2 when it is closed.
if redis.call("EXISTS", KEYS[1]) == 0 then
  return -1
end
if redis.call("HGET", KEYS[1], "closed") == "1" then
  return -2
end
local added = 0
for i = 1, #ARGV do
  added = added + redis.call("HSETNX", KEYS[2], ARGV[i], "0")
end
local total = redis.call("HINCRBY", KEYS[1], "total", added)
refresh(KEYS[1], KEYS)
return total

-- close closes a batch: no job can be added any more, and its callback is
-- due once every member is counted (at once for an empty batch).
-- KEYS[1]: the meta hash; KEYS[2]: the members hash; KEYS[3]: the archived list.
-- Returns due's reply (see due.lua), or {-1, 0, 0} when the batch does not exist.
if redis.call("EXISTS", KEYS[1]) == 0 then
  return {-1, 0, 0}
end
redis.call("HSET", KEYS[1], "closed", 1)
refresh(KEYS[1], KEYS)
return due(KEYS[1])

-- due is prepended to count.lua and close.lua. due(meta) returns the
-- batch's state after a change: {1, done, total, cb_type, cb_payload,
-- cb_queue, cb_timeout, cb_retry, ttl_ms} when the batch is closed, every job is
-- counted and the callback is not known to be enqueued yet (the caller
-- enqueues it, under a task ID of its own, so a repeat conflicts), else
-- {0, done, total}.
local function due(meta)
  local f = redis.call("HMGET", meta, "closed", "done", "total", "enqueued",
    "cb_type", "cb_payload", "cb_queue", "cb_timeout", "cb_retry", "ttl_ms")
  local done, total = tonumber(f[2]) or 0, tonumber(f[3]) or 0
  if f[1] == "1" and done >= total and f[4] ~= "1" then
    return {1, done, total, f[5], f[6], f[7], f[8], f[9], f[10]}
  end
  return {0, done, total}
end

-- refresh sets the batch's TTL (its ttl_ms field) on each of keys.
local function refresh(meta, keys)
  local ttl = redis.call("HGET", meta, "ttl_ms")
  for _, k in ipairs(keys) do
    redis.call("PEXPIRE", k, ttl)
  end
end

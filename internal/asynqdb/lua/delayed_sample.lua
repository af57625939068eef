-- delayed_sample.lua reads, for each given task of one queue, what says why
-- the task waits (its retry budget, its last error and the few headers
-- asked for) without its payload, which stays in Redis: a status page reads
-- a thousand tasks at once and must neither move nor see the payloads. It
-- decodes asynq v0.26's TaskMessage (internal/proto/asynq.proto) field by
-- field, skipping the payload (field 2) by its length.
--
-- KEYS[1..n]: the tasks' hashes, asynq:{QUEUE}:t:<id> (one queue: one
--             Cluster slot).
-- ARGV[1]:    the most bytes of the last error to return.
-- ARGV[2..]:  names of the headers to return.
--
-- Returns, per key, {found (0 or 1), retry, retried, last_failed_at (Unix
-- seconds), the last error's first ARGV[1] bytes, then one value per
-- header asked for ('' when the task has none)}, all flattened.
local errmax = tonumber(ARGV[1])
local nh = #ARGV - 1
local want = {}
for i = 2, #ARGV do
  want[ARGV[i]] = i - 1
end

-- varint reads a base-128 varint at i; returns the value and the next
-- index, or nil at a truncated end.
local function varint(s, i)
  local v, m = 0, 1
  while true do
    local b = string.byte(s, i)
    if b == nil then
      return nil, i
    end
    i = i + 1
    v = v + (b % 128) * m
    if b < 128 then
      return v, i
    end
    m = m * 128
  end
end

-- small keeps a count in the range Redis can return as an integer.
local function small(v)
  if v < 0 or v > 2147483647 then
    return 0
  end
  return v
end

-- entry reads one map<string, string> entry of length len at i into hv.
local function entry(s, i, len, hv)
  local stop, k, v = i + len, nil, ''
  while i < stop do
    local tag
    tag, i = varint(s, i)
    if tag == nil or tag % 8 ~= 2 then
      return
    end
    local l
    l, i = varint(s, i)
    if l == nil then
      return
    end
    local f = math.floor(tag / 8)
    if f == 1 then
      k = string.sub(s, i, i + l - 1)
    elseif f == 2 then
      v = string.sub(s, i, i + math.min(l, 256) - 1)
    end
    i = i + l
  end
  local j = k and want[k]
  if j then
    hv[j] = v
  end
end

local out = {}
for n = 1, #KEYS do
  local msg = redis.call('HGET', KEYS[n], 'msg')
  local found, retry, retried, failed, err = 0, 0, 0, 0, ''
  local hv = {}
  for j = 1, nh do
    hv[j] = ''
  end
  if msg then
    found = 1
    local i, size = 1, #msg
    while i <= size do
      local tag
      tag, i = varint(msg, i)
      if tag == nil then
        break
      end
      local field, wt = math.floor(tag / 8), tag % 8
      if wt == 0 then
        local v
        v, i = varint(msg, i)
        if v == nil then
          break
        end
        if field == 5 then
          retry = small(v)
        elseif field == 6 then
          retried = small(v)
        elseif field == 11 then
          failed = small(v)
        end
      elseif wt == 2 then
        local len
        len, i = varint(msg, i)
        if len == nil then
          break
        end
        if field == 7 then
          err = string.sub(msg, i, i + math.min(len, errmax) - 1)
        elseif field == 15 and nh > 0 then
          entry(msg, i, len, hv)
        end
        i = i + len
      elseif wt == 1 then
        i = i + 8
      elseif wt == 5 then
        i = i + 4
      else
        break
      end
    end
  end
  out[#out + 1] = found
  out[#out + 1] = retry
  out[#out + 1] = retried
  out[#out + 1] = failed
  out[#out + 1] = err
  for j = 1, nh do
    out[#out + 1] = hv[j]
  end
end
return out

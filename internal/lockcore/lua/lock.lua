-- lock.lua is not a script of its own: it defines the lock helpers that the
-- scripts touching locks share, and is put in front of each of them when
-- they are loaded (scripts.go), so that the one layout of a lock key lives
-- in one place (a Redis script cannot call another).
--
-- A held lock key holds 'L', the last fencing token handed out, ':', the
-- holder's deadline in server milliseconds, ':', the holder's owner token;
-- a released lock keeps its fence alone (an integer, which Redis stores
-- in the key's object without a string of its own):
--
--   L1733580000123456:1733580030123:0f3c…   held until the deadline
--   1733580000123456                        free
--
-- The lock is held while its deadline is ahead of the server's clock
-- (TIME): the key does not expire with its holder, so that its fence
-- outlives every holder in the same key. The key itself lives 24 hours
-- after its last write (lockKeyTTL here, fenceTTL in keys.go, which must
-- agree), so Redis keeps one key per lock key used within the last day.
--
-- A fence is the larger of the last one + 1 and the server's TIME in
-- microseconds, so that a replica promoted after losing the last grants
-- still hands out larger tokens than the dead primary did (see lockstore's
-- doc, Fencing). An expired key is no risk: the clock has passed its last
-- fence by then unless it was set back by more than a day.
--
-- Every write is one SET ... GET that writes the new value and reads the
-- old one; on the rare paths where the old value was not the caller's to
-- replace, the old value is put back (KEEPTTL: the key keeps a full day).

local lockKeyTTL = 86400000

-- lockParse returns the fence, deadline and owner of a lock key's value
-- v (deadline 0 and owner '' when free), or nil when v is not a lock
-- value.
local function lockParse(v)
  local f, d, o = string.match(v, '^L(%d+):(%d+):(.*)$')
  if f then
    return tonumber(f), tonumber(d), o
  end
  if string.match(v, '^%d+$') then
    return tonumber(v), 0, ''
  end
  return nil
end

local function lockValue(fence, deadline, owner)
  return 'L' .. string.format('%d', fence) .. ':' .. string.format('%d', deadline) .. ':' .. owner
end

-- serverNow returns the server's clock in microseconds and milliseconds.
local function serverNow()
  local t = redis.call('TIME')
  local s, us = tonumber(t[1]), tonumber(t[2])
  return s * 1000000 + us, s * 1000 + math.floor(us / 1000)
end

-- lockTake grants lock k to owner token for ttl milliseconds: {1, fence},
-- also when token already holds it (a retry after a lost reply: the
-- deadline is reset and a new, larger fence handed out); or {0, pttl}
-- when another owner holds it for pttl more milliseconds, leaving the key
-- as it was. Two commands (TIME, SET GET); one more on the rare paths.
local function lockTake(k, token, ttl)
  local us, ms = serverNow()
  local deadline = ms + tonumber(ttl)
  local old = redis.call('SET', k, lockValue(us, deadline, token), 'PX', lockKeyTTL, 'GET')
  local fence = us
  if old then
    local f, d, o = lockParse(old)
    if f then
      if o ~= '' and o ~= token and d > ms then
        redis.call('SET', k, old, 'KEEPTTL')
        return {0, d - ms}
      end
      if f >= us then
        fence = f + 1
        redis.call('SET', k, lockValue(fence, deadline, token), 'KEEPTTL')
      end
    end
  end
  return {1, fence}
end

-- lockRelease frees lock k if owner token holds it, keeping its fence (the
-- holder's, given as fence): 1 when released, 0 when it was free already
-- or gone, -1 when another owner holds it (left alone). One command (SET
-- GET); one more when it was not token's. A lock whose deadline passed
-- while no one took it is still token's to release: the caller's own
-- deadline tells it that the lease ran out.
local function lockRelease(k, token, fence)
  local old = redis.call('SET', k, fence, 'PX', lockKeyTTL, 'GET')
  if not old then
    return 0
  end
  local _, _, o = lockParse(old)
  if o == token then
    return 1
  end
  redis.call('SET', k, old, 'KEEPTTL')
  if o == nil or o == '' then
    return 0
  end
  return -1
end

-- leaseHolder returns the owner of a lease key's value v: a lock's owner
-- token (nil when the lock is free), or v itself (a marker's value).
local function leaseHolder(v)
  local f, _, o = lockParse(v)
  if not f then
    return v
  end
  if o == '' then
    return nil
  end
  return o
end

-- leaseHeld reads lease key k (a marker or a lock): 1 when token holds
-- it, 0 when it is gone or a free lock, -1 when it holds another value
-- (another owner, or the completed record that replaced a marker).
local function leaseHeld(k, token)
  local v = redis.call('GET', k)
  local h = v and leaseHolder(v)
  if not h then
    return 0
  end
  if h ~= token then
    return -1
  end
  return 1
end

-- markerTask returns the task ID of an in-flight marker's value v (the
-- admission token, ':', the task ID); a value without ':' is a task ID.
local function markerTask(v)
  return string.match(v, '^[^:]*:(.*)$') or v
end

-- isRecord reports whether v, a state key's value, is a completed record:
-- the digit 1 without a result (Redis keeps it in a shared integer object,
-- no allocation), else byte 1 and then the result bytes; its result is
-- string.sub(v, 2). Anything else is an in-flight marker (token ':' task ID).
local function isRecord(v)
  return v == '1' or string.byte(v, 1) == 1
end

-- completeBucket writes the completed record of field f in bucket b (see
-- bucket.go): its expiry exp (server milliseconds), with the sentinel field
-- sname of the window's current quarter, valued sval (the quarter's end
-- plus one more), in the same HSET. The caller computes the three from its
-- estimate of the server's clock; without one (exp empty) they come from
-- TIME here, window (ms) the record's window. A new sentinel (HSET answers
-- 2: both fields are new; also in a new bucket) pushes the bucket's TTL
-- past any record of this quarter and the next two, and deletes up to 128
-- expired fields (sentinels included): once per quarter per bucket.
-- Returns the TIME read, or nil.
local function completeBucket(b, f, window, exp, sname, sval)
  local q, read = math.max(math.floor(window / 4), 1), nil
  if exp == '' then
    local _, ms = serverNow()
    read = ms
    local k = math.floor(ms / q)
    exp = string.format('%d', ms + window)
    sname = '~' .. string.format('%d', window) .. ':' .. string.format('%d', k)
    sval = string.format('%d', (k + 2) * q)
  end
  if redis.call('HSET', b, f, exp, sname, sval) == 2 then
    local deadline = tonumber(sval) + q + window
    if redis.call('PEXPIRETIME', b) < deadline then
      redis.call('PEXPIREAT', b, string.format('%d', deadline))
    end
    local _, ms = serverNow()
    local fv = redis.call('HRANDFIELD', b, 128, 'WITHVALUES')
    local dead = {}
    for i = 1, #fv, 2 do
      local e = tonumber(fv[i + 1])
      if e and e <= ms then
        dead[#dead + 1] = fv[i]
      end
    end
    if #dead > 0 then
      redis.call('HDEL', b, unpack(dead))
    end
  end
  return read
end

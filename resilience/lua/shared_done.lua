-- shared_done.lua records the outcome of a call admitted by shared_allow.lua.
-- Outcomes of an older generation (issued before a state change or a later
-- probe grant) are ignored. Time is the server's (TIME).
--
-- KEYS[1]: the breaker's hash (fields st, gen, fails, succ, ou, pu).
-- ARGV[1]: the generation of the call's ticket.
-- ARGV[2]: the outcome: 0 neutral, 1 success, 2 failure.
-- ARGV[3]: consecutive failures that open a closed breaker.
-- ARGV[4]: successful probes that close a half-open breaker.
-- ARGV[5]: the open period in milliseconds, jitter already applied.
-- ARGV[6]: TTL of the hash in milliseconds, refreshed on every write.
--
-- Returns {applied (0 or 1), state (0 closed, 1 half-open, 2 open),
-- generation, failure streak, retry-after in milliseconds}. A generation of 0
-- means the hash does not exist.
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local h = redis.call('HMGET', key, 'st', 'gen', 'fails', 'succ', 'ou', 'pu')
local gen = tonumber(h[2])
if not gen then
  return {0, 0, 0, 0, 0}
end
local st = tonumber(h[1]) or 0
local fails = tonumber(h[3]) or 0
local succ = tonumber(h[4]) or 0
local ou = tonumber(h[5]) or 0
local pu = tonumber(h[6]) or 0
local outcome = tonumber(ARGV[2])

local function retry()
  if st == 2 and ou > now then return ou - now end
  if st == 1 and pu > now then return pu - now end
  return 0
end

if tonumber(ARGV[1]) ~= gen or st == 2 then
  return {0, st, gen, fails, retry()}
end

local function open()
  st, gen, fails, ou, pu = 2, gen + 1, 0, now + tonumber(ARGV[5]), 0
  redis.call('HSET', key, 'st', st, 'gen', gen, 'fails', 0, 'succ', 0, 'ou', ou, 'pu', 0)
end

if st == 0 then
  if outcome == 1 then
    if fails == 0 then
      return {1, st, gen, fails, 0}
    end
    fails = 0
    redis.call('HSET', key, 'fails', 0)
  elseif outcome == 2 then
    fails = fails + 1
    if fails >= tonumber(ARGV[3]) then
      open()
    else
      redis.call('HSET', key, 'fails', fails)
    end
  else
    return {1, st, gen, fails, 0}
  end
else -- half-open: the ticket is the current probe's.
  if outcome == 1 then
    succ = succ + 1
    if succ >= tonumber(ARGV[4]) then
      st, gen, fails, pu = 0, gen + 1, 0, 0
      redis.call('HSET', key, 'st', 0, 'gen', gen, 'fails', 0, 'succ', 0, 'pu', 0)
    else
      pu = 0
      redis.call('HSET', key, 'succ', succ, 'pu', 0)
    end
  elseif outcome == 2 then
    open()
  else
    -- A neutral probe gives its slot back.
    pu = 0
    redis.call('HSET', key, 'pu', 0)
  end
end
redis.call('PEXPIRE', key, ARGV[6])
return {1, st, gen, fails, retry()}

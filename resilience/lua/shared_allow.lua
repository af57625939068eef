-- shared_allow.lua asks a shared breaker to admit one call. It makes the lazy
-- transition from open to half-open when the open period is over, and grants
-- the single cluster-wide half-open probe slot, with an expiry so that a
-- prober that crashed cannot hold it for ever. Time is the server's (TIME).
--
-- KEYS[1]: the breaker's hash (fields st, gen, fails, succ, ou, pu).
-- ARGV[1]: "1" to take the probe slot when it is free, "0" only to look.
-- ARGV[2]: probe expiry in milliseconds: how long a granted probe holds the slot.
-- ARGV[3]: TTL of the hash in milliseconds, refreshed on every write.
--
-- Returns {admitted (0 or 1), state (0 closed, 1 half-open, 2 open),
-- generation, failure streak, retry-after in milliseconds}. For a granted
-- probe the retry-after is the time the slot stays held.
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local h = redis.call('HMGET', key, 'st', 'gen', 'fails', 'ou', 'pu')
local st = tonumber(h[1]) or 0
local gen = tonumber(h[2])
local fails = tonumber(h[3]) or 0
local ou = tonumber(h[4]) or 0
local pu = tonumber(h[5]) or 0

if not gen then
  -- A new (or lost) breaker starts its generations at the server time, so
  -- tickets issued against a hash that expired or was lost never match.
  gen = now
  redis.call('HSET', key, 'st', 0, 'gen', gen, 'fails', 0)
  redis.call('PEXPIRE', key, ARGV[3])
end

if st == 2 then
  if now < ou then
    return {0, 2, gen, fails, ou - now}
  end
  st, gen, pu = 1, gen + 1, 0
  redis.call('HSET', key, 'st', 1, 'gen', gen, 'succ', 0, 'pu', 0)
  redis.call('PEXPIRE', key, ARGV[3])
end

if st == 1 then
  if pu > now then
    return {0, 1, gen, fails, pu - now}
  end
  if ARGV[1] ~= '1' then
    return {1, 1, gen, fails, 0}
  end
  -- Each grant starts a new generation, so the report of a probe whose slot
  -- expired and was granted again is ignored.
  gen = gen + 1
  pu = now + tonumber(ARGV[2])
  redis.call('HSET', key, 'gen', gen, 'pu', pu)
  redis.call('PEXPIRE', key, ARGV[3])
  return {1, 1, gen, fails, pu - now}
end

return {1, 0, gen, fails, 0}

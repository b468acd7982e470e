/**
 * The GCRA step of gcra.ts, run inside Redis so check and update are atomic across every
 * gateway instance. It reads Redis's own clock, so instances with skewed clocks still agree.
 * KEYS[1] = state key; ARGV = intervalUs, toleranceUs, incrementUs.
 * Returns { allowed (0|1), remaining, resetUs, retryAfterUs }.
 */
export const GCRA_SCRIPT = `
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local increment = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])

local tat = now
local stored = tonumber(redis.call('GET', KEYS[1]) or '')
if stored and stored > now then tat = stored end

local new_tat = tat + increment
local allow_at = new_tat - tolerance
local allowed = 0
local retry_after = allow_at - now
if allow_at <= now then
  allowed = 1
  retry_after = 0
  tat = new_tat
  -- %.0f: Lua's default number formatting keeps only 14 digits, too few for a microsecond timestamp.
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
end

local remaining = math.floor((now + tolerance - tat) / interval)
if remaining < 0 then remaining = 0 end
return { allowed, remaining, tat - now, retry_after }
`;

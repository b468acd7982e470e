/**
 * The GCRA step of gcra.ts, run inside Redis so check and update are atomic across every
 * gateway instance, for a batch of checks in one call: a busy gateway sends the checks of all the
 * requests that arrived in one event-loop turn together. They run one after the other, exactly as
 * separate calls would (a key may appear more than once). It reads Redis's own clock, so
 * instances with skewed clocks still agree.
 * KEYS[i] = state key of check i; ARGV[3i-2..3i] = its intervalUs, toleranceUs, incrementUs.
 * Returns { allowed (0|1), remaining, resetUs, retryAfterUs } per check, flattened.
 */
export const GCRA_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local out = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[i * 3 - 2])
  local tolerance = tonumber(ARGV[i * 3 - 1])
  local increment = tonumber(ARGV[i * 3])
  local tat = now
  local stored = tonumber(redis.call('GET', KEYS[i]) or '')
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
    redis.call('SET', KEYS[i], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
  end

  local remaining = math.floor((now + tolerance - tat) / interval)
  if remaining < 0 then remaining = 0 end
  out[#out + 1] = allowed
  out[#out + 1] = remaining
  out[#out + 1] = tat - now
  out[#out + 1] = retry_after
end
return out
`;

/**
 * The backoff steps of backoff.ts, run inside Redis so that every gateway instance sees one
 * failure count per key. Like the GCRA script they read Redis's own clock, so instances with
 * skewed clocks agree on when a block ends. State is a hash { n = failures, t = last failure µs }
 * that expires forgetAfterMs after the last failure.
 * KEYS[1] = state key; ARGV = freeFailures, baseDelayMs, maxDelayMs, forgetAfterMs.
 * Both return { failures, retryAfterUs }.
 */
const BACKOFF_PRELUDE = `
local free = tonumber(ARGV[1])
local base = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local forget = tonumber(ARGV[4])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])

local stored = redis.call('HMGET', KEYS[1], 'n', 't')
local failures = tonumber(stored[1] or '')
local last = tonumber(stored[2] or '')
-- The key expires with the forget window anyway; checking too keeps this exact, as in backoff.ts.
if not failures or not last or now - last >= forget * 1000 then
  failures = 0
  last = nil
end

local function delay_ms(n)
  if n <= free then return 0 end
  -- 2 ^ a large exponent is inf, which the cap turns back into max.
  local delay = base * 2 ^ (n - free - 1)
  if delay > max then delay = max end
  return delay
end
`;

/** Records one failure: returns the state right after it. */
export const BACKOFF_RECORD_SCRIPT = `${BACKOFF_PRELUDE}
failures = failures + 1
-- %.0f: Lua's default number formatting keeps only 14 digits, too few for a microsecond timestamp.
redis.call('HSET', KEYS[1], 'n', failures, 't', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[1], forget)
return { failures, delay_ms(failures) * 1000 }
`;

/** Reads the state without changing it. */
export const BACKOFF_STATE_SCRIPT = `${BACKOFF_PRELUDE}
if failures == 0 then return { 0, 0 } end
local retry_after = last + delay_ms(failures) * 1000 - now
if retry_after < 0 then retry_after = 0 end
return { failures, retry_after }
`;

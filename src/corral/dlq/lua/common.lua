-- Shared by the DLQ scripts. ARGV[1] is the key layout (JSON, built from corral.keys): every index, count and
-- fingerprint key is derived from it, so the indexes change in the same script, atomically, as the entries.
local L = cjson.decode(ARGV[1])

local function ix(kind, value)
  return L.ix .. kind .. ':' .. value
end

-- Add `by` to the count of `member` in one dimension's count set; a count that reaches zero is removed.
local function bump(dimension, member, by)
  local key = L.counts .. dimension
  local n = tonumber(redis.call('ZINCRBY', key, by, member))
  if n <= 0 then
    redis.call('ZREM', key, member)
  end
end

local function bump_hour(failed_at, by)
  local hour = tostring(math.floor(tonumber(failed_at) / 3600000))
  local n = redis.call('HINCRBY', L.hours, hour, by)
  if n <= 0 then
    redis.call('HDEL', L.hours, hour)
  end
end

-- Move an entry between replay statuses (never, pending, succeeded, died); `never` has no index of its own.
local function move_status(id, score, old, new)
  if old == new then
    return
  end
  if old ~= 'never' then
    redis.call('ZREM', ix('status', old), id)
  end
  if new ~= 'never' then
    redis.call('ZADD', ix('status', new), score, id)
  end
  bump('status', old, -1)
  bump('status', new, 1)
end

local function split(text, sep)
  local parts = {}
  if not text or text == '' then
    return parts
  end
  for part in string.gmatch(text, '([^' .. sep .. ']+)') do
    parts[#parts + 1] = part
  end
  return parts
end

-- An entry hash holds `meta`, a JSON array of its fixed fields, in this order (see corral.dlq.entry.META):
-- queue, job id, name, attempts made, created at, processed on, failed at, captured at, fingerprint.
local Q, JOB, NAME, ATM, CREATED, PROCESSED, FAILED, CAPTURED, FP = 1, 2, 3, 4, 5, 6, 7, 8, 9

-- `replays` holds '<replay count>:<status>'.
local function replay_state(text)
  local count, status = string.match(text or '0:never', '^(%d+):(%a+)$')
  return tonumber(count or '0'), status or 'never'
end

-- Record that fingerprint `fp` was seen in `release` at `at` (ms): the first time per release stays, and the
-- fingerprint's hash keeps the release it was seen in last. An empty release (none known) records nothing.
local function seen_in_release(fp, release, at)
  if release == '' then
    return
  end
  redis.call('ZADD', L.fprel .. fp, 'NX', at, release)
  local last_at = tonumber(redis.call('HGET', L.fp .. fp, 'lastReleaseAt') or '0')
  if at >= last_at then
    redis.call('HSET', L.fp .. fp, 'lastRelease', release, 'lastReleaseAt', at)
  end
end

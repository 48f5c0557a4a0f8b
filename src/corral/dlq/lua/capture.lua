-- Capture one failed job into the dead-letter queue, exactly once.
-- KEYS[1] job hash   KEYS[2] queue's failed zset   KEYS[3] sources hash
-- KEYS[4] entry sequence   KEYS[5] entries by time zset
-- ARGV[1] queue name   ARGV[2] job id   ARGV[3] entry key prefix
-- ARGV[4] fingerprint   ARGV[5] normalised reason   ARGV[6] now (ms)
-- Returns the entry id, or false when the job is not in the failed set or its entry was deleted.
local finished = redis.call('ZSCORE', KEYS[2], ARGV[2])
if not finished then
  return false
end
local finishedOn = redis.call('HGET', KEYS[1], 'finishedOn') or finished
local source = ARGV[1] .. ':' .. ARGV[2] .. ':' .. finishedOn
local existing = redis.call('HGET', KEYS[3], source)
if existing == 'deleted' then
  return false
end
if existing then
  return existing
end
local job = redis.call('HMGET', KEYS[1], 'name', 'data', 'opts', 'failedReason', 'stacktrace',
  'atm', 'timestamp', 'processedOn')
local id = tostring(redis.call('INCR', KEYS[4]))
redis.call('HSET', ARGV[3] .. id,
  'id', id, 'queue', ARGV[1], 'jobId', ARGV[2], 'name', job[1] or '', 'data', job[2] or '{}',
  'opts', job[3] or '{}', 'failedReason', job[4] or '', 'stacktrace', job[5] or '[]',
  'attemptsMade', job[6] or '0', 'createdAt', job[7] or '0', 'processedOn', job[8] or '0',
  'failedAt', finishedOn, 'capturedAt', ARGV[6], 'fingerprint', ARGV[4], 'reasonPattern', ARGV[5],
  'source', source, 'replayCount', '0', 'replays', '[]')
redis.call('HSET', KEYS[3], source, id)
redis.call('ZADD', KEYS[5], finishedOn, id)
return id

-- Record what became of a replayed job (completed, or died again) in its entry's history, once.
-- ARGV[1] key layout   ARGV[2] entry id   ARGV[3] replay number   ARGV[4] status (succeeded|died)   ARGV[5] outcome JSON
-- Returns 1 when recorded, 0 when the entry is gone or this replay's outcome was already recorded.
local id, n = ARGV[2], ARGV[3]
local key = L.entry .. id
local e = redis.call('HMGET', key, 'meta', 'replays')
if not e[1] or redis.call('HSETNX', key, 'outcome:' .. n, ARGV[5]) == 0 then
  return 0
end
-- Only the latest replay decides the entry's status; an older one finishing late only writes history.
local count, status = replay_state(e[2])
if count == tonumber(n) then
  move_status(id, cjson.decode(e[1])[FAILED], status, ARGV[4])
  redis.call('HSET', key, 'replays', count .. ':' .. ARGV[4])
end
redis.call('INCR', L.version)
return 1

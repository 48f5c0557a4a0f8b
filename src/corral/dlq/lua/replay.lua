-- Record one replay of an entry: its history, count, status and indexes; refuses a stale count, a replay still in
-- flight and the limit.
-- ARGV[1] key layout   ARGV[2] entry id   ARGV[3] replay count the caller saw   ARGV[4] the replay record (JSON)
-- ARGV[5] replay limit
-- Returns the new replay count, -1 when the entry is gone, -2 when the count moved on, -3 at the limit, -4 while
-- the previous replay is pending.
local id = ARGV[2]
local key = L.entry .. id
local e = redis.call('HMGET', key, 'meta', 'replays')
if not e[1] then
  return -1
end
local count, status = replay_state(e[2])
if count ~= tonumber(ARGV[3]) then
  return -2
end
if count >= tonumber(ARGV[5]) then
  return -3
end
if status == 'pending' then
  return -4
end
local score = cjson.decode(e[1])[FAILED]
local n = count + 1
-- The new job may have finished before this script ran: its outcome then decides the status at once.
local new_status = 'pending'
local done = redis.call('HGET', key, 'outcome:' .. n)
if done then
  new_status = cjson.decode(done).status == 'completed' and 'succeeded' or 'died'
end
redis.call('HSET', key, 'replays', n .. ':' .. new_status, 'replay:' .. n, ARGV[4])
move_status(id, score, status, new_status)
if count > 0 then
  redis.call('ZREM', ix('replays', tostring(count)), id)
end
redis.call('ZADD', ix('replays', tostring(n)), score, id)
redis.call('ZADD', L.replayed, score, id)
redis.call('INCR', L.version)
return n

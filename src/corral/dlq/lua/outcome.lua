-- Record what became of a replayed job (completed, or died again) in its entry's history.
-- ARGV[1] key layout   ARGV[2] entry id   ARGV[3] replay number   ARGV[4] status (succeeded|died)   ARGV[5] outcome JSON
-- (with `at`, epoch ms). A replay's job retried from its queue finishes again: a later outcome replaces the earlier
-- one and counts the runs; the same or an older one is ignored.
-- Returns 1 when recorded, 0 when the entry is gone or this outcome is not newer than the one recorded.
local id, n = ARGV[2], ARGV[3]
local key = L.entry .. id
local e = redis.call('HMGET', key, 'meta', 'replays', 'outcome:' .. n)
if not e[1] then
  return 0
end
local doc = cjson.decode(ARGV[5])
doc.runs = 1
if e[3] then
  local ok, previous = pcall(cjson.decode, e[3])
  if ok and type(previous) == 'table' then
    if tonumber(previous.at or 0) >= tonumber(doc.at or 0) then
      return 0
    end
    doc.runs = tonumber(previous.runs or 1) + 1
  end
end
redis.call('HSET', key, 'outcome:' .. n, cjson.encode(doc))
-- Only the latest replay decides the entry's status; an older one finishing late only writes history.
local count, status = replay_state(e[2])
if count == tonumber(n) then
  move_status(id, cjson.decode(e[1])[FAILED], status, ARGV[4])
  redis.call('HSET', key, 'replays', count .. ':' .. ARGV[4])
end
redis.call('INCR', L.version)
return 1

-- Capture one failed job into the dead-letter queue, exactly once, with every index and count.
-- KEYS[1] job hash   KEYS[2] queue's failed zset
-- ARGV[1] key layout   ARGV[2] queue name   ARGV[3] job id   ARGV[4] fingerprint   ARGV[5] normalised reason
-- ARGV[6] now (ms)   ARGV[7] searchable fields by job name (JSON)   ARGV[8] search tokens of the reason (space-separated)
-- ARGV[9] the job hash's fields to read, as the engine adapter names them (JSON list): finished at, name, data,
-- options, failed reason, stack trace, attempts made, queued at, started at   ARGV[10] the release the worker runs
-- (empty: the release marked last, if any)   ARGV[11] on a cluster, where the job's keys are on another slot than the
-- DLQ's: the job as read before, JSON [finished at score or false, [the fields of ARGV[9], false for a missing one]];
-- KEYS then only route the script to the DLQ's slot
-- Returns the entry id, or false when the job is not in the failed set or its entry was deleted.
-- One failing job keeps one entry: a job made by a replay (`dlq-<entry>-r<n>`) that dies is written into the entry it
-- was replayed from (replay n's outcome, the entry's status), and a job that already has an entry in this queue and
-- dies again (retried from its queue) is counted in that entry; neither adds an entry.
local queue, job_id, fp = ARGV[2], ARGV[3], ARGV[4]
local finished, job
if ARGV[11] and ARGV[11] ~= '' then
  local read = cjson.decode(ARGV[11])
  finished, job = read[1], read[2]
else
  finished = redis.call('ZSCORE', KEYS[2], job_id)
  if finished then
    job = redis.call('HMGET', KEYS[1], unpack(cjson.decode(ARGV[9])))
  end
end
if not finished then
  return false
end
local failed_at = job[1] or finished
local source = queue .. ':' .. job_id .. ':' .. failed_at
local existing = redis.call('HGET', L.sources, source)
if existing == 'deleted' then
  return false
end
if existing then
  return redis.call('EXISTS', L.entry .. existing) == 1 and existing or false
end
local name = job[2] or ''
local release = ARGV[10] or ''
if release == '' then
  release = redis.call('GET', L.currentRelease) or ''
end
local data = job[3] or '{}'
local reason = job[5] or ''

local target, replay_n = nil, nil
local replayed_from, number = string.match(job_id, '^dlq%-(%d+)%-r(%d+)$')
if replayed_from and redis.call('EXISTS', L.entry .. replayed_from) == 1 then
  target, replay_n = replayed_from, number
elseif not replayed_from then
  for _, other in ipairs(split(redis.call('HGET', L.jobIds, job_id), ' ')) do
    local m = redis.call('HGET', L.entry .. other, 'meta')
    if m and cjson.decode(m)[Q] == queue then
      target = other
      break
    end
  end
end
if target then
  local key = L.entry .. target
  local e = redis.call('HMGET', key, 'meta', 'replays', replay_n and ('outcome:' .. replay_n) or 'again')
  -- How often this job died before: replay n's earlier runs, or the entry's earlier deaths after its capture.
  local before = 0
  if e[3] then
    local ok, previous = pcall(cjson.decode, e[3])
    before = ok and type(previous) == 'table' and tonumber(previous.runs or previous.count) or 1
  end
  local at = tonumber(failed_at)
  redis.call('HSET', L.sources, source, target)
  seen_in_release(cjson.decode(e[1])[FP], release, at)
  if replay_n then
    redis.call('HSET', key, 'outcome:' .. replay_n, cjson.encode({status = 'died', at = at,
      reason = string.sub(reason, 1, 500), entryId = target, runs = before + 1}))
    local count, status = replay_state(e[2])
    if count == tonumber(replay_n) then
      move_status(target, cjson.decode(e[1])[FAILED], status, 'died')
      redis.call('HSET', key, 'replays', count .. ':died')
    end
  else
    redis.call('HSET', key, 'again', cjson.encode({count = before + 1, at = at, reason = string.sub(reason, 1, 500)}))
  end
  redis.call('INCR', L.version)
  return target
end

-- A replayed job whose entry was deleted meanwhile gets an entry of its own that keeps the replays already made,
-- so the limit still counts them.
local carried = replayed_from and tonumber(number) or 0
local state = carried > 0 and 'died' or 'never'
local id = tostring(redis.call('INCR', L.seq))

-- Payload fields the catalogue declares searchable: strings and lists of strings, lower-cased (ASCII).
local indexed = {}
local spec = cjson.decode(ARGV[7])[name]
if spec and #spec > 0 then
  local ok, doc = pcall(cjson.decode, data)
  if ok and type(doc) == 'table' then
    for _, field in ipairs(spec) do
      local value = doc[field]
      local values = type(value) == 'table' and value or {value}
      for i = 1, math.min(#values, 50) do
        local v = values[i]
        if type(v) == 'string' and #v > 0 and #v <= 128 then
          local lowered = string.lower(v)
          local key = field .. ':' .. lowered
          if not indexed[key] then
            indexed[key] = true
            indexed[#indexed + 1] = key
            redis.call('ZADD', ix('f', key), failed_at, id)
          end
          -- The leading word of an identifier (`draft` of `draft-1f3a`, `alice` of `alice@example.com`), three
          -- characters or more, in one word index shared by every field; stored as `~word` beside the field keys
          -- so the delete script finds it. One word per value keeps the index's memory small.
          local words = split(lowered, '%W')
          local word = words[1] and ('~' .. words[1])
          if #words > 1 and #word > 3 and not indexed[word] then
            indexed[word] = true
            indexed[#indexed + 1] = word
            redis.call('ZADD', ix('w', words[1]), failed_at, id)
          end
        end
      end
    end
  end
end

local meta = cjson.encode({queue, job_id, name, job[7] or '0', job[8] or '0', job[9] or '0', failed_at, ARGV[6], fp})
redis.call('HSET', L.entry .. id, 'meta', meta, 'data', data, 'opts', job[4] or '{}', 'reason', reason,
  'stack', job[6] or '[]', 'replays', carried .. ':' .. state)
if carried > 0 then
  redis.call('HSET', L.entry .. id, 'replay:' .. carried, cjson.encode({jobId = job_id, by = '', edited = false}),
    'outcome:' .. carried, cjson.encode({status = 'died', at = tonumber(failed_at), reason = string.sub(reason, 1, 500),
    entryId = id, runs = 1}))
  redis.call('ZADD', ix('status', state), failed_at, id)
  redis.call('ZADD', ix('replays', tostring(carried)), failed_at, id)
  redis.call('ZADD', L.replayed, failed_at, id)
end
if #indexed > 0 then
  redis.call('HSET', L.entry .. id, 'fields', table.concat(indexed, '\n'))
end
if release ~= '' then
  redis.call('HSET', L.entry .. id, 'release', release)
  redis.call('ZADD', ix('release', release), failed_at, id)
  bump('release', release, 1)
end
redis.call('HSET', L.sources, source, id)
redis.call('ZADD', L.byTime, failed_at, id)
redis.call('ZADD', ix('queue', queue), failed_at, id)
redis.call('ZADD', ix('name', name), failed_at, id)
redis.call('ZADD', ix('fp', fp), failed_at, id)
bump('queue', queue, 1)
bump('name', name, 1)
bump('fp', fp, 1)
bump('status', state, 1)
bump_hour(failed_at, 1)
local known = redis.call('HGET', L.jobIds, job_id)
redis.call('HSET', L.jobIds, job_id, known and (known .. ' ' .. id) or id)
if redis.call('HSETNX', L.fp .. fp, 'pattern', ARGV[5]) == 1 then
  redis.call('HSET', L.fp .. fp, 'sample', string.sub(reason, 1, 500), 'queue', queue, 'tokens', ARGV[8])
  redis.call('ZADD', L.fpNames, 0, fp)
  for _, token in ipairs(split(ARGV[8], ' ')) do
    redis.call('SADD', L.tok .. token, fp)
    redis.call('ZADD', L.tokNames, 0, token)
  end
end
seen_in_release(fp, release, tonumber(failed_at))
redis.call('INCR', L.version)
return id

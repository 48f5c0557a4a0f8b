-- One page of an index walk, newest first: entries of KEYS[1] (the driver) that are in every check set and in no
-- exclude set, within a failed-at range, after a cursor. Bounded by a budget of examined entries.
-- KEYS[1] driver zset, then ARGV[1] check zsets, then ARGV[2] exclude zsets, then ARGV[9] any-of zsets (an entry must
-- be in at least one of them, when there are any)
-- ARGV[3] max score   ARGV[4] min score   ARGV[5] cursor score ('' for none)   ARGV[6] cursor id   ARGV[7] wanted
-- ARGV[8] budget of examined entries   ARGV[9] how many any-of zsets
-- Returns {matches as one string 'score:id score:id ...', last examined id, its score, exhausted (0|1)}: one
-- string rather than two replies per match keeps a client's parsing cheap.
local checks, excludes, anys = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[9] or '0')
local max, min = ARGV[3], tonumber(ARGV[4])
local wanted, budget = tonumber(ARGV[7]), tonumber(ARGV[8])
local driver = KEYS[1]
local rank = nil
if ARGV[5] ~= '' then
  local r = redis.call('ZREVRANK', driver, ARGV[6])
  if r and tonumber(redis.call('ZSCORE', driver, ARGV[6])) == tonumber(ARGV[5]) then
    rank = r + 1
  else
    -- The cursor's entry is gone: resume below its score.
    max = '(' .. ARGV[5]
  end
end
if not rank then
  if max == '+inf' then
    rank = 0
  else
    local first = redis.call('ZREVRANGEBYSCORE', driver, max, '-inf', 'LIMIT', 0, 1)
    if #first == 0 then
      return {'', '', '', 1}
    end
    rank = redis.call('ZREVRANK', driver, first[1])
  end
end
local out = {}
local examined, found = 0, 0
local last_id, last_score = '', ''
local chunk = math.min(math.max(wanted * 2, 64), 1000)
while true do
  local batch = redis.call('ZREVRANGE', driver, rank, rank + chunk - 1, 'WITHSCORES')
  for i = 1, #batch, 2 do
    local id, score = batch[i], batch[i + 1]
    if tonumber(score) < min then
      return {table.concat(out, ' '), last_id, last_score, 1}
    end
    examined = examined + 1
    last_id, last_score = id, score
    if passes(id, checks, excludes, anys) then
      out[#out + 1] = score .. ':' .. id
      found = found + 1
    end
    if found >= wanted or examined >= budget then
      local more = (i + 1 < #batch) or (#batch == chunk * 2)
      return {table.concat(out, ' '), last_id, last_score, more and 0 or 1}
    end
  end
  if #batch < chunk * 2 then
    break
  end
  rank = rank + chunk
end
return {table.concat(out, ' '), last_id, last_score, 1}

-- Rows of entries for listing and export, encoded here so a client decodes one string per batch.
-- ARGV[1] key layout   ARGV[2] shape: 'csv' (a JSON array, payload as text), 'jsonl' (a JSON object line with
-- the payload spliced in) or 'summary' (the object without payload)   ARGV[3] maximum reason length   ARGV[4] entry ids,
-- space-separated
-- Returns the rows of the entries that still exist joined into one string: newline-separated for 'jsonl', a JSON
-- array of the rows for 'csv' and 'summary' (one reply to parse instead of one per entry).
local shape, reason_max = ARGV[2], tonumber(ARGV[3])
local rows = {}
for id in string.gmatch(ARGV[4], '%S+') do
  local e = redis.call('HMGET', L.entry .. id, 'meta', 'replays', 'reason', 'data', 'release')
  if e[1] then
    local m = cjson.decode(e[1])
    local count, status = replay_state(e[2])
    local reason = string.sub(e[3] or '', 1, reason_max)
    if shape == 'csv' then
      rows[#rows + 1] = cjson.encode({id, m[Q], m[JOB], m[NAME], m[FAILED], m[ATM], count, status, m[FP], reason,
        e[4] or '{}', e[5] or ''})
    else
      local head = cjson.encode({id = id, queue = m[Q], jobId = m[JOB], name = m[NAME],
        failedAt = tonumber(m[FAILED]), attemptsMade = tonumber(m[ATM]), replayCount = count, status = status,
        fingerprint = m[FP], failedReason = reason, release = e[5] or ''})
      if shape == 'summary' then
        rows[#rows + 1] = head
      else
        rows[#rows + 1] = string.sub(head, 1, -2) .. ',"data":' .. (e[4] or '{}') .. '}'
      end
    end
  end
end
if shape == 'jsonl' then
  return table.concat(rows, '\n')
end
return '[' .. table.concat(rows, ',') .. ']'

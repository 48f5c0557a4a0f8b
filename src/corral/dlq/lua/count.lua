-- Count the entries of KEYS[1] (the driver) within a failed-at range that are in every check set, in no exclude set
-- and in at least one any-of set (when there are any), examining at most a budget of entries.
-- KEYS[1] driver zset, then ARGV[1] check zsets, ARGV[2] exclude zsets, ARGV[3] any-of zsets
-- ARGV[4] min score   ARGV[5] max score   ARGV[6] budget of examined entries
-- Returns {count, examined}, or {-1, 0} when the driver holds more entries in range than the budget.
local checks, excludes, anys = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local min, max, budget = ARGV[4], ARGV[5], tonumber(ARGV[6])
local size = redis.call('ZCOUNT', KEYS[1], min, max)
if checks + excludes + anys == 0 then
  return {size, 0}
end
if size > budget then
  return {-1, 0}
end
local found = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], min, max)) do
  if passes(id, checks, excludes, anys) then
    found = found + 1
  end
end
return {found, size}

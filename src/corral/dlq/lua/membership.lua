-- Shared by the index walks (page, count): whether an entry passes the filter's sets. KEYS[2..] hold, in order,
-- `checks` sets it must be in, `excludes` sets it must not be in, and `anys` sets it must be in one of (when any).
local function passes(id, checks, excludes, anys)
  for k = 2, 1 + checks do
    if not redis.call('ZSCORE', KEYS[k], id) then
      return false
    end
  end
  for k = 2 + checks, 1 + checks + excludes do
    if redis.call('ZSCORE', KEYS[k], id) then
      return false
    end
  end
  if anys == 0 then
    return true
  end
  for k = 2 + checks + excludes, 1 + checks + excludes + anys do
    if redis.call('ZSCORE', KEYS[k], id) then
      return true
    end
  end
  return false
end


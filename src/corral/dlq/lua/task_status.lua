-- Move a bulk task from one status to another only if it is still in the first.   KEYS[1] task hash
-- ARGV[1] expected status   ARGV[2] new status
if redis.call('HGET', KEYS[1], 'status') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'status', ARGV[2])
  return 1
end
return 0

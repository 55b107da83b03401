-- The owner of each job not ended yet, in one round trip. KEYS: the index of the jobs not
-- ended (jobs:active). ARGV: the prefix of a job's record key. Returns their owners' ids (a
-- job whose record is gone meanwhile is left out).
local owners = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local owner = redis.call('HGET', ARGV[1] .. id, 'owner_id')
  if owner then
    owners[#owners + 1] = owner
  end
end
return owners

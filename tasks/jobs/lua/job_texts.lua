-- What a search looks in of some jobs, in one round trip and one reply. KEYS: none. ARGV: the
-- prefix of a job's record key, then the jobs' ids. Returns each job's description and owner's
-- name, in turn (nil for a record gone meanwhile).
local texts = {}
for i = 2, #ARGV do
  local fields = redis.call('HMGET', ARGV[1] .. ARGV[i], 'description', 'owner_name')
  texts[#texts + 1] = fields[1]
  texts[#texts + 1] = fields[2]
end
return texts

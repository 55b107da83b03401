-- KEYS: job hash, channel, events counter. ARGV: verb, the follow-up's job id ('' to release
-- the verb's claim if it is ARGV[3]), the publish time, [the id to release].
-- Claims: 'ok', or the id of the job that already holds the verb; false if the job is gone.
-- Either way that changes the record, the new snapshot is published.
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local raw = redis.call('HGET', KEYS[1], 'follow_ups')
local links = {}
if raw and raw ~= '' then links = cjson.decode(raw) end
if ARGV[2] == '' then
  if links[ARGV[1]] ~= ARGV[4] then return 'ok' end
  links[ARGV[1]] = nil
elseif links[ARGV[1]] then
  return links[ARGV[1]]
else
  links[ARGV[1]] = ARGV[2]
end
if next(links) == nil then
  redis.call('HDEL', KEYS[1], 'follow_ups')
else
  redis.call('HSET', KEYS[1], 'follow_ups', cjson.encode(links))
end
redis.call('HINCRBY', KEYS[1], 'seq', 1)
local flat = redis.call('HGETALL', KEYS[1])
local job = {}
for j = 1, #flat, 2 do job[flat[j]] = flat[j + 1] end
job['mail_queued'] = nil
job['runner'] = nil
job['run'] = nil
local event = {v = 1, type = 'job', job = job, at = tonumber(ARGV[3])}
redis.call('PUBLISH', KEYS[2], cjson.encode(event))
redis.call('INCR', KEYS[3])
return 'ok'

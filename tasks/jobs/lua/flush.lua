-- KEYS: job hash, errors zset, channel, events counter, errors:over hash, errors:words hash,
-- errors:vocabulary zset
-- ARGV: n field pairs, the publish time, the run's token, the most errors kept (JOB_MAX_ERRORS;
-- the record's `error_cap` instead when it has a smaller one), field, value,
-- ..., then one quadruple per error: score, member, order, index tokens (space-separated); an
-- empty member: count it, do not keep it (the writer knows the ledger is full), unless its
-- score is within the ledger's (kept already).
-- Writes nothing and returns 'lost' if the token (when not empty) is no longer the job's run;
-- else the job's status and 1 if the ledger is full, 0 if not.
--
-- An error is kept in the ledger while it holds fewer than the most kept, and filed in the
-- index under its tokens by its slot (its rank: errors come in ledger order); past that it is
-- only counted, in errors:over: field 'n' the number not kept, field <position> the orders
-- not kept at that position, 'lo:hi' (so that a flush tried twice counts each error once).
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local run = redis.call('HGET', KEYS[1], 'run')
if run and ARGV[3] ~= '' and run ~= ARGV[3] then return 'lost' end
local n = tonumber(ARGV[1])
local most = tonumber(ARGV[4])
local cap = redis.call('HGET', KEYS[1], 'error_cap')
if cap then most = math.min(most, tonumber(cap)) end
local i = 5
for _ = 1, n do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
local kept = redis.call('ZCARD', KEYS[2])
local postings = {}
local not_kept = 0
local over = {}
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')[2]
if last then last = tonumber(last) end
while i <= #ARGV do
  local score, member, order = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local tokens = ARGV[i + 3]
  i = i + 4
  if member == '' and last and tonumber(score) <= last then
    -- kept already (the kept errors are the ledger's first): a flush tried again
  elseif member ~= '' and redis.call('ZSCORE', KEYS[2], member) then
    -- kept already: this flush is being tried again
  elseif member ~= '' and kept < most then
    redis.call('ZADD', KEYS[2], score, member)
    local slot = redis.call('ZRANK', KEYS[2], member)
    if slot ~= kept then redis.call('HSET', KEYS[6], '!unordered', '1') end
    kept = kept + 1
    local packed = struct.pack('<I4', slot)
    for token in string.gmatch(tokens, '%S+') do
      postings[token] = (postings[token] or '') .. packed
    end
  else
    local position = tostring(math.floor(tonumber(score)))
    local range = over[position]
    if range then
      range[1], range[2] = math.min(range[1], order), math.max(range[2], order)
    else
      over[position] = {order, order}
    end
  end
end
for position, range in pairs(over) do
  local stored = redis.call('HGET', KEYS[5], position)
  local lo, hi = range[1], range[2]
  if stored then
    local was_lo, was_hi = string.match(stored, '(%d+):(%d+)')
    was_lo, was_hi = tonumber(was_lo), tonumber(was_hi)
    lo, hi = math.min(lo, was_lo), math.max(hi, was_hi)
    not_kept = not_kept + (hi - lo) - (was_hi - was_lo)
  else
    not_kept = not_kept + hi - lo + 1
  end
  redis.call('HSET', KEYS[5], position, lo .. ':' .. hi)
end
if next(postings) ~= nil then
  redis.call('HSET', KEYS[6], '!indexed', '1')
  for token, packed in pairs(postings) do
    redis.call('HSET', KEYS[6], token, (redis.call('HGET', KEYS[6], token) or '') .. packed)
    if string.sub(token, 1, 1) ~= '!' then redis.call('ZADD', KEYS[7], 0, token) end
  end
end
if not_kept ~= 0 then redis.call('HINCRBY', KEYS[5], 'n', not_kept) end
local over_total = tonumber(redis.call('HGET', KEYS[5], 'n') or '0')
redis.call('HSET', KEYS[1], 'error_count', kept + over_total)
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then  -- written after the job ended: the new keys go with it
  for k = 5, 7 do
    if redis.call('EXISTS', KEYS[k]) == 1 then redis.call('PEXPIRE', KEYS[k], ttl) end
  end
end
redis.call('HINCRBY', KEYS[1], 'seq', 1)
local flat = redis.call('HGETALL', KEYS[1])
local job = {}
for j = 1, #flat, 2 do job[flat[j]] = flat[j + 1] end
job['mail_queued'] = nil
job['runner'] = nil
job['run'] = nil
local event = {v = 1, type = 'job', job = job, at = tonumber(ARGV[2])}
redis.call('PUBLISH', KEYS[3], cjson.encode(event))
redis.call('INCR', KEYS[4])
return {job['status'], kept >= most and 1 or 0}

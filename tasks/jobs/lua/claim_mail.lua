-- KEYS: job hash; the claim is taken only on a job that still exists
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[1], 'mail_queued', '1')

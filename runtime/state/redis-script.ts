// The Lua script that makes a decision's history read and its reservation one atomic step in Redis (docs/state.md).
// It is the only code that writes the store's keys; RedisStateStore builds its arguments and parses its answer.

/**
 * ARGV: prefix, now, cutoff (entries before it expire), ttl (ms), max entries per key, lease (ms: a reservation
 * pending longer than this by Redis's clock counts as recorded), mode (`n` read and reserve, `x` read only, `-` resolve only, `e` end a session), an unused
 * slot, tool, client key, session key, then the resolutions (a count, then op `c`/`r`, seq, tool, client, session,
 * a value count and that many pointer, value pairs each), then the session's `seen` marks to add (their ttl in ms,
 * the most a session may carry, a count, then the labels), then the queries (a count, then each: `n` scope since
 * tool-count tools…, `k` tool, or `a` function scope since tool pointer max-values), then the reserved call's values
 * (a count, then pointer, value pairs: the numbers the policy aggregates, as JavaScript prints them).
 *
 * Answer: { status, seq, session calls, its pending earlier, its pending later, then per query three values, then
 * (modes `n` and `x`) the number of the session's `seen` labels and the labels }:
 * status 0 ok, 1 full (a key holds the most entries it may), 2 the session carries the most `seen` labels it may; a
 * count query answers total, earlier, later (total -1:
 * the window reaches past calls already expired); a `called` query answers the session's calls to the tool the same way;
 * an aggregate query answers, as strings, the fold over every entry and over the entries not pending earlier, then
 * 0 (-1 when the window reaches past calls already expired, -2 when it holds more values than max-values). Values are kept in one sorted set per scope, tool and
 * pointer, members `seq|value`, and folded in seq order, as the other stores fold them, to the same double.
 * Pending entries are `seq|tool` members of the scope's pending set; `earlier` are other deciders' reservations made
 * before this one (their outcome is uncertain). A reservation gets its seq in the script that reads, so nothing later
 * exists at the read: `later` is always 0 for `n`, and for `x` (which reserves nothing) every pending entry is earlier.
 */
export const RESERVE_SCRIPT = `
local P = ARGV[1]
local now = ARGV[2]
local cutoff = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local maxPerKey = tonumber(ARGV[5])
local lease = tonumber(ARGV[6])
-- Leases run on Redis's clock, not the replicas': a replica whose clock is ahead must not end others' leases early.
local time = redis.call('TIME')
local redisNow = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local reservedAt = P .. 'pt'
-- Pending entries no read has looked at for this long after their decision time are dropped (they count as recorded).
local pendingGc = tonumber(now) - lease - 300000
local mode = ARGV[7]
local seq = 0
local tool, cid, sid = ARGV[9], ARGV[10], ARGV[11]

local function mainKeys(t, c, s)
  return { P .. 'g', P .. 'gt:' .. t, P .. 'c:' .. c, P .. 'ct:' .. c .. ':' .. t, P .. 's:' .. s, P .. 'st:' .. s .. ':' .. t }
end
local function pendingKeys(c, s)
  return { P .. 'pg', P .. 'pc:' .. c, P .. 'ps:' .. s }
end
-- The sets of one aggregated value: global, the client's and the session's.
local function valueKeys(t, c, s, ptr)
  local k = ':' .. t .. '\\n' .. ptr
  return { P .. 'ag' .. k, P .. 'ac:' .. c .. k, P .. 'as:' .. s .. k }
end

-- Takes a reservation back ('r') or lets it count as recorded ('c'): either way it is no longer pending.
local function resolve(op, q, t, c, s, vals)
  for _, k in ipairs(pendingKeys(c, s)) do redis.call('ZREM', k, q .. '|' .. t) end
  redis.call('HDEL', reservedAt, q)
  if op ~= 'r' then return end
  for i = 1, #vals, 2 do
    for _, k in ipairs(valueKeys(t, c, s, vals[i])) do redis.call('ZREM', k, q .. '|' .. vals[i + 1]) end
  end
  local held = redis.call('ZREM', P .. 's:' .. s, q)
  for _, k in ipairs(mainKeys(t, c, s)) do redis.call('ZREM', k, q) end
  if held == 1 then
    redis.call('DECR', P .. 'sn:' .. s)
    if redis.call('HINCRBY', P .. 'sc:' .. s, t, -1) <= 0 then redis.call('HDEL', P .. 'sc:' .. s, t) end
  end
end

local at = 12
local nres = tonumber(ARGV[at]); at = at + 1
for _ = 1, nres do
  local nv = tonumber(ARGV[at + 5])
  local vals = {}
  for j = 1, 2 * nv do vals[j] = ARGV[at + 5 + j] end
  resolve(ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4], vals)
  at = at + 6 + 2 * nv
end

-- The session's seen marks (labels only): added here, read below with the counts, so that a mark another replica set
-- is in the very snapshot a decision reads. They last until the session ends, or their own ttl after the session's
-- last mark or read: longer than the call log, because a mark says what the session holds, not what it did lately.
local marksKey = P .. 'sm:' .. sid
local marksTtl = tonumber(ARGV[at])
local maxMarks = tonumber(ARGV[at + 1])
local nmarks = tonumber(ARGV[at + 2])
at = at + 3
for i = 0, nmarks - 1 do
  local label = ARGV[at + i]
  if redis.call('SISMEMBER', marksKey, label) == 0 then
    if redis.call('SCARD', marksKey) >= maxMarks then return { 2, 0, 0, 0, 0 } end
    redis.call('SADD', marksKey, label)
  end
end
at = at + nmarks
if nmarks > 0 then redis.call('PEXPIRE', marksKey, marksTtl) end

if mode == '-' then return { 0, 0, 0, 0, 0 } end
if mode == 'e' then
  for _, t in ipairs(redis.call('HKEYS', P .. 'sc:' .. sid)) do redis.call('DEL', P .. 'st:' .. sid .. ':' .. t) end
  for _, k in ipairs(redis.call('SMEMBERS', P .. 'sa:' .. sid)) do redis.call('DEL', k) end
  redis.call('DEL', P .. 's:' .. sid, P .. 'sn:' .. sid, P .. 'sc:' .. sid, P .. 'ps:' .. sid, P .. 'sa:' .. sid, marksKey)
  return { 0, 0, 0, 0, 0 }
end

-- Counts read entries at or after their window's start: a start before what any decider expired is refused.
local expiredKey = P .. 'exp'
local expired = tonumber(redis.call('GET', expiredKey) or '-1e300')
if cutoff > expired then
  expired = cutoff
  redis.call('SET', expiredKey, ARGV[3], 'PX', ttl)
end
local ecut = '(' .. ARGV[3]
local main = mainKeys(tool, cid, sid)
for _, k in ipairs(main) do redis.call('ZREMRANGEBYSCORE', k, '-inf', ecut) end
local pend = pendingKeys(cid, sid)
for _, k in ipairs(pend) do redis.call('ZREMRANGEBYSCORE', k, '-inf', '(' .. pendingGc) end

if mode == 'n' then
  for _, k in ipairs(main) do
    if redis.call('ZCARD', k) >= maxPerKey then return { 1, 0, 0, 0, 0 } end
  end
  seq = redis.call('INCR', P .. 'seq')
  redis.call('PEXPIRE', P .. 'seq', ttl)
end
-- A read without a reservation ('x') takes every pending reservation as earlier: it may count them or not.
if mode == 'x' then seq = math.huge end

-- Pending members of a set from 'since' on, matching 'tools' (nil: every tool): { earlier, later } than this one.
local function pending(key, since, tools)
  local earlier, later = 0, 0
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, since, '+inf')) do
    local bar = string.find(m, '|', 1, true)
    local q = tonumber(string.sub(m, 1, bar - 1))
    if tools == nil or tools[string.sub(m, bar + 1)] then
      local at = tonumber(redis.call('HGET', reservedAt, q) or '0')
      if at < redisNow - lease then
        -- Its replica never resolved it: the call may have run, so it counts as recorded from now on.
        redis.call('ZREM', key, m)
      elseif q < seq then earlier = earlier + 1
      elseif q > seq then later = later + 1 end
    end
  end
  return earlier, later
end

-- The reservations of tool t in set pkey from 'since' on that other deciders made before this one and still hold
-- (their lease not over), as a set of seqs: read once per aggregate, since the set holds only calls in flight.
local function pendingEarlierSet(pkey, since, t)
  local set = {}
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', pkey, since, '+inf')) do
    local bar = string.find(m, '|', 1, true)
    local q = tonumber(string.sub(m, 1, bar - 1))
    if string.sub(m, bar + 1) == t and q < seq and tonumber(redis.call('HGET', reservedAt, q) or '0') >= redisNow - lease then set[q] = true end
  end
  return set
end

-- Folds values in seq order; nil over none, which the caller answers as 0.
local function fold(fn, acc, v)
  if acc == nil then return v end
  if fn == 'sum' then return acc + v end
  if fn == 'max' then return math.max(acc, v) end
  return math.min(acc, v)
end

local sessionCalls = tonumber(redis.call('GET', P .. 'sn:' .. sid) or '0')
local se, sl = pending(P .. 'ps:' .. sid, '-inf', nil)
-- A read without a reservation answers seq 0: math.huge is no integer Redis can return.
local out = { 0, mode == 'x' and 0 or seq, sessionCalls, se, sl }

local nq = tonumber(ARGV[at]); at = at + 1
for _ = 1, nq do
  local kind = ARGV[at]
  if kind == 'k' then
    local t = ARGV[at + 1]
    at = at + 2
    local e, l = pending(P .. 'ps:' .. sid, '-inf', { [t] = true })
    table.insert(out, tonumber(redis.call('HGET', P .. 'sc:' .. sid, t) or '0'))
    table.insert(out, e)
    table.insert(out, l)
  elseif kind == 'a' then
    local fn, scope, since, t, ptr, maxFold = ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4], ARGV[at + 5], tonumber(ARGV[at + 6])
    at = at + 7
    local whose = scope == 'g' and '' or (scope == 'c' and cid or sid)
    local key = scope == 'g' and P .. 'ag:' .. t .. '\\n' .. ptr or P .. 'a' .. scope .. ':' .. whose .. ':' .. t .. '\\n' .. ptr
    if tonumber(since) < expired then
      table.insert(out, '0')
      table.insert(out, '0')
      table.insert(out, -1)
    elseif redis.call('ZCOUNT', key, since, '+inf') > maxFold then
      -- More values than a fold may read: refused before reading them, so that no replica waits on it.
      table.insert(out, '0')
      table.insert(out, '0')
      table.insert(out, -2)
    else
      local pkey = P .. 'p' .. scope .. (scope == 'g' and '' or ':' .. whose)
      local entries = {}
      for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, since, '+inf')) do
        local bar = string.find(m, '|', 1, true)
        table.insert(entries, { tonumber(string.sub(m, 1, bar - 1)), tonumber(string.sub(m, bar + 1)) })
      end
      table.sort(entries, function(x, y) return x[1] < y[1] end)
      local held = pendingEarlierSet(pkey, since, t)
      local all, settled = nil, nil
      for _, entry in ipairs(entries) do
        all = fold(fn, all, entry[2])
        if not held[entry[1]] then settled = fold(fn, settled, entry[2]) end
      end
      table.insert(out, string.format('%.17g', all or 0))
      table.insert(out, string.format('%.17g', settled or 0))
      table.insert(out, 0)
    end
  else
    local scope, since, n = ARGV[at + 1], ARGV[at + 2], tonumber(ARGV[at + 3])
    at = at + 4
    local whose = scope == 'g' and '' or (scope == 'c' and cid or sid)
    local all = scope == 'g' and P .. 'g' or P .. scope .. ':' .. whose
    local pkey = P .. 'p' .. scope .. (scope == 'g' and '' or ':' .. whose)
    local total, tools = 0, nil
    if tonumber(since) < expired then
      total = -1
      at = at + n
    elseif n == 0 then
      total = redis.call('ZCOUNT', all, since, '+inf')
    else
      tools = {}
      for j = 0, n - 1 do
        local t = ARGV[at + j]
        if not tools[t] then
          tools[t] = true
          local k = scope == 'g' and P .. 'gt:' .. t or P .. scope .. 't:' .. whose .. ':' .. t
          total = total + redis.call('ZCOUNT', k, since, '+inf')
        end
      end
      at = at + n
    end
    local e, l = 0, 0
    if total >= 0 then e, l = pending(pkey, since, tools) end
    table.insert(out, total)
    table.insert(out, e)
    table.insert(out, l)
  end
end

local nvals = tonumber(ARGV[at]); at = at + 1
if mode == 'n' then
  for _, k in ipairs(main) do
    redis.call('ZADD', k, now, seq)
    redis.call('PEXPIRE', k, ttl)
  end
  for j = 0, nvals - 1 do
    local ptr, v = ARGV[at + 2 * j], ARGV[at + 2 * j + 1]
    for _, k in ipairs(valueKeys(tool, cid, sid, ptr)) do
      redis.call('ZREMRANGEBYSCORE', k, '-inf', ecut)
      redis.call('ZADD', k, now, seq .. '|' .. v)
      redis.call('PEXPIRE', k, ttl)
    end
    redis.call('SADD', P .. 'sa:' .. sid, valueKeys(tool, cid, sid, ptr)[3])
    redis.call('PEXPIRE', P .. 'sa:' .. sid, ttl)
  end
  for _, k in ipairs(pend) do
    redis.call('ZADD', k, now, seq .. '|' .. tool)
    redis.call('PEXPIRE', k, ttl)
  end
  redis.call('HSET', reservedAt, seq, redisNow)
  redis.call('PEXPIRE', reservedAt, ttl)
  redis.call('INCR', P .. 'sn:' .. sid)
  redis.call('PEXPIRE', P .. 'sn:' .. sid, ttl)
  redis.call('HINCRBY', P .. 'sc:' .. sid, tool, 1)
  redis.call('PEXPIRE', P .. 'sc:' .. sid, ttl)
end
local labels = redis.call('SMEMBERS', marksKey)
if #labels > 0 then redis.call('PEXPIRE', marksKey, marksTtl) end
table.insert(out, #labels)
for _, label in ipairs(labels) do table.insert(out, label) end
return out
`;

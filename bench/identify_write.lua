-- wrk script: idlinkd's write path.
-- Every request is POST /identify with an email and a phone never sent
-- before, across all wrk threads and connections, so each one creates a
-- contact. Uniqueness: a run tag (first script argument, after `--` on the
-- wrk command line; bench/run.sh gives warm-up and measured runs different
-- tags), a thread id handed out in setup(), and a per-thread counter.
-- The phone is digits only: 1 + tag (6) + thread (3) + counter (9) = 19
-- digits, within the 20 the spec allows.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local threads_started = 0 -- main Lua state only (setup runs there)

function setup(thread)
   threads_started = threads_started + 1
   thread:set("tid", threads_started)
end

-- Below: each thread's own Lua state; tid was set by setup().
local tag = 0
local counter = 0

function init(args)
   tag = (tonumber(args[1]) or os.time()) % 1000000
end

function request()
   counter = counter + 1
   local body = string.format(
      '{"email": "w%d.%d.%d@bench.example", "phoneNumber": "1%06d%03d%09d"}',
      tag, tid, counter, tag, tid, counter)
   return wrk.format(nil, nil, nil, body)
end

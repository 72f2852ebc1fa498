-- wrk script: writes to one large identity. Every request is POST /identify
-- with a new email and the one phone all of them share, so each creates a
-- secondary of the same identity ("a hub") and is answered with the whole
-- identity. Uniqueness as in identify_write.lua: a run tag, a thread id and
-- a per-thread counter.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local threads_started = 0 -- main Lua state only (setup runs there)

function setup(thread)
   threads_started = threads_started + 1
   thread:set("tid", threads_started)
end

local tag = 0
local counter = 0

function init(args)
   tag = (tonumber(args[1]) or os.time()) % 1000000
end

function request()
   counter = counter + 1
   local body = string.format(
      '{"email": "hub%d.%d.%d@bench.example", "phoneNumber": "5550000000"}',
      tag, tid, counter)
   return wrk.format(nil, nil, nil, body)
end

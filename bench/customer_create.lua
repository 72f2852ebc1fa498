-- wrk script: creating customers, POST /api/v1/customers/.
-- Every request creates a new customer of channel 1 with an email, a phone
-- and a channel_code never sent before, across all wrk threads and
-- connections, so each one is a generic create whose email and phone are
-- reconciled into the contact graph as POST /identify would (a new contact).
-- Uniqueness as in identify_write.lua: a run tag (first script argument,
-- after `--`; bench/run.sh gives warm-up and measured runs different tags),
-- a thread id handed out in setup(), and a per-thread counter. The phone is
-- digits only: 1 + tag (6) + thread (3) + counter (9) = 19 digits.

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
      '{"channel": 1, "email": "c%d.%d.%d@bench.example", "phone_number": "1%06d%03d%09d", '
         .. '"channel_code": "b%d.%d.%d", "first_name": "Bench", "last_name": "Customer"}',
      tag, tid, counter, tag, tid, counter, tag, tid, counter)
   return wrk.format(nil, nil, nil, body)
end

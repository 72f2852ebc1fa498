-- What the write scripts share: every request of a run is unique across all
-- wrk threads and connections. Uniqueness: a run tag (the first script
-- argument, after `--`; bench/run.sh gives warm-up and measured runs
-- different tags), a thread id handed out in setup(), and a per-thread
-- counter. A script loads this with
--   dofile(debug.getinfo(1, "S").source:match("@?(.*/)") .. "unique.lua")
-- then calls unique() for (tag, thread, counter) in its request().

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

function unique()
   counter = counter + 1
   return tag, tid, counter
end

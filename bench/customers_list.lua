-- wrk script: a filtered list page of customers, GET /api/v1/customers/?...,
-- over a store that idlink-gen-customers made (customer k: email
-- customer{k}@shop.example, identity k+1, or k when k%3 == 2, created_date
-- the first customer's plus k ms). Each request picks a random k. The
-- filter and the store come from the environment:
--   IDLINK_BENCH_FILTER     email:    ?email=customer{k}@shop.example (1 row)
--                           prefix:   ?email__startswith=customer{j}, j with
--                                     10 j < N <= 100 j (11 rows: j, j0..j9)
--                           window:   ?created_date__gte=..&created_date__lt=..
--                                     (100 rows from customer k on)
--                           identity: ?identity={identity of k} (1 or 2 rows)
--   IDLINK_BENCH_CUSTOMERS  N, the customers of the store
--   IDLINK_BENCH_T0_US, IDLINK_BENCH_STEP_US  (window) created_date of
--                           customer 0 and the step between two customers, in
--                           microseconds since the epoch (bench/run.sh reads
--                           them from two customers of the store)

local filter = "email"
local customers = 1
local t0, step = 0, 1000
local WINDOW = 100

function init(args)
   filter = os.getenv("IDLINK_BENCH_FILTER") or "email"
   customers = tonumber(os.getenv("IDLINK_BENCH_CUSTOMERS")) or 1
   t0 = tonumber(os.getenv("IDLINK_BENCH_T0_US")) or 0
   step = tonumber(os.getenv("IDLINK_BENCH_STEP_US")) or 1000
   math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end

-- ISO 8601 UTC with microseconds, as the API renders created_date.
local function iso(us)
   local s = math.floor(us / 1000000)
   return os.date("!%Y-%m-%dT%H:%M:%S", s) .. string.format(".%06dZ", us - s * 1000000)
end

function request()
   local path
   if filter == "prefix" then
      local lo = math.ceil(customers / 100)
      local hi = math.floor(customers / 10) - 1
      path = string.format("?email__startswith=customer%d", math.random(lo, hi))
   elseif filter == "window" then
      local k = math.random(0, customers - WINDOW)
      path = string.format("?created_date__gte=%s&created_date__lt=%s",
                           iso(t0 + k * step), iso(t0 + (k + WINDOW) * step))
   elseif filter == "identity" then
      local k = math.random(0, customers - 1)
      path = string.format("?identity=%d", k % 3 == 2 and k or k + 1)
   else
      path = string.format("?email=customer%d@shop.example", math.random(0, customers - 1))
   end
   return wrk.format("GET", wrk.path .. path)
end

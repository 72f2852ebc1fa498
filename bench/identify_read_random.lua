-- wrk script: idlinkd's read path over a whole generated store. Every request
-- is POST /identify for a random identity k of the store that
-- idlink-gen-store made (email customer{k}@shop.example, phone +1555{k}), so
-- lookups spread over every page instead of one hot contact. The number of
-- identities comes from the environment: IDLINK_BENCH_IDENTITIES.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local identities = 1

function init(args)
   identities = tonumber(os.getenv("IDLINK_BENCH_IDENTITIES")) or 1
   math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end

function request()
   local k = math.random(0, identities - 1)
   local body = string.format('{"email": "customer%d@shop.example", "phoneNumber": "+1555%010d"}', k, k)
   return wrk.format(nil, nil, nil, body)
end

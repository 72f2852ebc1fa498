-- wrk script: writes to one large identity. Every request is POST /identify
-- with a new email (bench/unique.lua) and the one phone all of them share,
-- so each creates a secondary of the same identity ("a hub") and is answered
-- with the whole identity.

dofile(debug.getinfo(1, "S").source:match("@?(.*/)") .. "unique.lua")

function request()
   local tag, t, n = unique()
   local body = string.format(
      '{"email": "hub%d.%d.%d@bench.example", "phoneNumber": "5550000000"}', tag, t, n)
   return wrk.format(nil, nil, nil, body)
end

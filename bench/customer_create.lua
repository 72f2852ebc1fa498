-- wrk script: creating customers, POST /api/v1/customers/.
-- Every request creates a new customer of channel 1 with an email, a phone
-- and a channel_code never sent before (bench/unique.lua), so each one is a
-- generic create whose email and phone are reconciled into the contact graph
-- as POST /identify would (a new contact). The phone is digits only:
-- 1 + tag (6) + thread (3) + counter (9) = 19 digits.

dofile(debug.getinfo(1, "S").source:match("@?(.*/)") .. "unique.lua")

function request()
   local tag, t, n = unique()
   local body = string.format(
      '{"channel": 1, "email": "c%d.%d.%d@bench.example", "phone_number": "1%06d%03d%09d", '
         .. '"channel_code": "b%d.%d.%d", "first_name": "Bench", "last_name": "Customer"}',
      tag, t, n, tag, t, n, tag, t, n)
   return wrk.format(nil, nil, nil, body)
end

-- wrk script: idlinkd's write path.
-- Every request is POST /identify with an email and a phone never sent
-- before (bench/unique.lua), so each one creates a contact. The phone is
-- digits only: 1 + tag (6) + thread (3) + counter (9) = 19 digits, within
-- the 20 the spec allows.

dofile(debug.getinfo(1, "S").source:match("@?(.*/)") .. "unique.lua")

function request()
   local tag, t, n = unique()
   local body = string.format(
      '{"email": "w%d.%d.%d@bench.example", "phoneNumber": "1%06d%03d%09d"}',
      tag, t, n, tag, t, n)
   return wrk.format(nil, nil, nil, body)
end

-- wrk script: idlinkd's read path.
-- Every request is POST /identify with one known contact, which bench/run.sh
-- seeds before the run (keep KNOWN_BODY in run.sh equal to this body), so
-- idlinkd answers from a read transaction without the writer.
-- Also used for the ceiling server, so both see the same request bytes.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email": "known@bench.example", "phoneNumber": "5550100"}'

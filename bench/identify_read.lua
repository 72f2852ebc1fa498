-- wrk script: idlinkd's read path.
-- Every request is POST /identify with one known contact, which bench/run.sh
-- seeds before the run (keep KNOWN_BODY in run.sh equal to this body), so
-- idlinkd answers from a read transaction without the writer.
-- Also used for the ceiling server, so both see the same request bytes.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email": "known@bench.example", "phoneNumber": "5550100"}'

-- One machine-readable line for bench/run.sh (times in microseconds).
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d p99_us=%.0f non2xx=%d" ..
      " connect=%d read=%d write=%d timeout=%d\n",
      summary.requests, summary.duration, latency:percentile(99),
      e.status, e.connect, e.read, e.write, e.timeout))
end

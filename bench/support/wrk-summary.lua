-- wrk's own totals as one JSON line, so bench/support/wrk.ts checks exact counts rather than rounded text.
-- A done() hook costs nothing per request (a response() hook would make wrk buffer every body).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_SUMMARY {"requests":%.0f,"bytes":%.0f,"durationUs":%.0f,"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f}\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
end

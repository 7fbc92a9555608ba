-- wrk with receipts riding on segment requests (bench/support/receipt-load.ts): args are a file of request
-- paths, one signed receipt each, the bytes a viewer receives between two receipts, and the segment's
-- bytes. Every time the segments requested add up to a viewer's receipt interval, the next request is the
-- next path of the file (until it runs out); the others are wrk's own URL. done() prints wrk's totals as
-- wrk-summary.lua does, and how many receipt paths were requested.
paths = {}
used = 0
local acc, bytesPerReceipt, segmentBytes = 0, 0, 0
local threads = {}

setup = function(thread)
  table.insert(threads, thread)
end

init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  bytesPerReceipt = tonumber(args[2])
  segmentBytes = tonumber(args[3])
end

request = function()
  acc = acc + segmentBytes
  if acc >= bytesPerReceipt and used < #paths then
    acc = acc - bytesPerReceipt
    used = used + 1
    return wrk.format(nil, paths[used])
  end
  return wrk.format(nil, nil)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_SUMMARY {"requests":%.0f,"bytes":%.0f,"durationUs":%.0f,"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f}\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("used") end
  io.write(string.format('WRK_RECEIPTS %d\n', n))
end

// bench/latency: the publisher (frame-publisher.ts) in a process of its own, started by remote-publisher.ts at
// a raised priority where it may: the publisher stands for a camera and OBS on another machine, so its frame
// clock and its pipe writes to FFmpeg must not wait for the bench's browser control or the servers under test.
// Reports to its parent over the IPC channel every REPORT_MS: the send times of the frames since the last
// report, its counters, and its failure; on 'stop' it stops FFmpeg, sends a last report and exits.

import { FramePublisher, type FramePublisherOptions } from './frame-publisher.ts';
import type { PublisherReport } from './remote-publisher.ts';

const REPORT_MS = 100;

const publisher = new FramePublisher(JSON.parse(process.argv[2] ?? '{}') as FramePublisherOptions);
let reported = 0;
const report = () => {
  const message: PublisherReport = { from: reported, sentAt: publisher.sentAt.slice(reported), stats: publisher.stats, failed: publisher.failed };
  reported = publisher.sentAt.length;
  process.send!(message);
};
publisher.start();
const timer = setInterval(report, REPORT_MS);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  clearInterval(timer);
  await publisher.stop();
  report();
  process.disconnect();
};
process.on('message', (m) => {
  if (m === 'stop') void stop();
});
// The bench died: nothing to report to.
process.on('disconnect', () => void stop());

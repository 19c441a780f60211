// A long-lived TCP conversation for restart tests, run inside a pod netns with `nsenter --net=...`.
//   node tcp-stream.mjs <host> <port>
// Connects once to an echo server and sends a numbered line every 10 ms. Every 100 ms it prints
// `{"sent":N,"received":N}`; on SIGTERM (or any error) it prints a final line with "done":true and
// "error" if the connection broke, and exits (0 if every line came back in order on one connection).
import { connect } from 'node:net';

const [host, port] = process.argv.slice(2);
let sent = 0;
let received = 0;
let buf = '';
let error;
const report = (done = false) => process.stdout.write(JSON.stringify({ sent, received, ...(done ? { done, error } : {}) }) + '\n');
const finish = () => {
  clearInterval(tick);
  clearInterval(progress);
  report(true);
  process.exit(error === undefined && received === sent ? 0 : 1);
};
const s = connect(Number(port), host);
s.setNoDelay(true);
s.on('data', (d) => {
  buf += d.toString();
  let i;
  while ((i = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    if (line !== String(received)) error ??= `out of order: got ${line}, expected ${received}`;
    received++;
  }
});
s.on('error', (e) => {
  error ??= e.message;
  finish();
});
s.on('close', () => {
  error ??= 'connection closed by peer';
  finish();
});
const tick = setInterval(() => {
  if (s.writable) s.write(`${sent++}\n`);
}, 10);
const progress = setInterval(() => report(), 100);
process.on('SIGTERM', () => {
  // let the last echoes arrive, then report
  clearInterval(tick);
  setTimeout(finish, 300);
});

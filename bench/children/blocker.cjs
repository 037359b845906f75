// The latency fixture: an app under the agent that blocks its loop for 3 s each time it reads
// a line "block" on stdin, and prints READY once its agent is listening.
'use strict';
const { setTimeout: sleep } = require('node:timers/promises');
function spinForAWhile(ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {} // blocks the event loop on purpose
}
process.stdin.setEncoding('utf8');
process.stdin.on('data', (text) => {
  if (text.includes('block')) setImmediate(() => spinForAWhile(3000));
});
setInterval(() => {}, 1000);
(async () => {
  for (let i = 0; i < 200; i++) {
    const file = require('node:path').join(process.env.XDG_RUNTIME_DIR, 'asyncmon', `${process.pid}.json`);
    if (require('node:fs').existsSync(file)) break;
    await sleep(50);
  }
  process.stdout.write('READY\n');
})();

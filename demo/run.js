// `npm run demo`: starts demo/app.js under the agent and opens `asyncmon top` on it; quitting
// the TUI stops the demo. Without a terminal it prints the one-shot views and how to connect.
'use strict';
const { spawn } = require('node:child_process');
const { mkdtempSync, readFileSync, existsSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { AgentClient } = require('../dist/cli/client.js');
const { renderResult } = require('../dist/src/render.js');

const root = join(__dirname, '..');
const runtime = mkdtempSync(join(tmpdir(), 'asyncmon-demo-'));
const env = { ...process.env, XDG_RUNTIME_DIR: runtime, ASYNCMON_PORT: '0', ASYNCMON_TRACK: 'promises', ASYNCMON_STACKS: 'on' };
// With a terminal the TUI owns it: the app's own output goes to a log file, or it would be
// printed over the TUI, and the app's exit would reset the terminal the TUI put in raw mode.
const tty = Boolean(process.stdout.isTTY && process.stdin.isTTY);
const log = join(runtime, 'demo-app.log');
const out = tty ? require('node:fs').openSync(log, 'a') : 'inherit';
const app = spawn(process.execPath, ['--require', join(root, 'dist/agent/register.js'), join(__dirname, 'app.js')], { env, stdio: ['ignore', out, out] });
const stop = () => {
  if (app.exitCode === null) app.kill();
  try {
    rmSync(runtime, { recursive: true, force: true }); // it holds the demo's token
  } catch {}
};
process.on('exit', stop);
process.on('SIGINT', () => process.exit(130));

async function discover() {
  const file = join(runtime, 'asyncmon', `${app.pid}.json`);
  for (let i = 0; i < 100; i++) {
    if (existsSync(file)) {
      try {
        return JSON.parse(readFileSync(file, 'utf8'));
      } catch {
        // Not readable yet (an agent older than this demo wrote it in place): try again.
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the demo app did not start its agent');
}

function openTop(rec) {
  const cli = join(root, 'dist/cli/main.js');
  const tui = spawn(process.execPath, [cli, 'top', '-t', String(rec.pid)], { env, stdio: 'inherit' });
  tui.on('exit', (code) => {
    stop();
    process.exitCode = code ?? 0;
  });
}

/** Bold on a terminal that wants colour; plain in a pipe or with NO_COLOR. */
const bold = (text) => (process.stdout.isTTY && !process.env.NO_COLOR ? `\x1b[1m${text}\x1b[0m` : text);

async function main() {
  const rec = await discover();
  if (tty) return openTop(rec);
  await new Promise((r) => setTimeout(r, 2500)); // let some trouble build up
  const client = await AgentClient.connect({ host: rec.host, port: rec.port }, { token: rec.token });
  const show = async (title, cmd, args = {}) => {
    console.log(bold(`\n$ asyncmon ${title}`));
    console.log(renderResult(cmd, await client.call(cmd, args)));
  };
  await show('ps', 'ps');
  const tasks = await client.call('ps', {});
  const hung = tasks.items.find((t) => t.kind === 'http-server' && t.name.startsWith('GET /users'));
  if (hung) await show(`where ${hung.id}`, 'where', { id: String(hung.id) });
  await show('awaits', 'awaits', { limit: 6 });
  await show('promises', 'promises', { limit: 5 });
  await show('handles', 'handles', { limit: 8 });
  const sync = tasks.items.find((t) => t.name === 'sync-users');
  if (sync) await show(`cancel ${sync.id}`, 'cancel', { id: String(sync.id) });
  await show('stats', 'stats');
  client.close();
  stop();
  console.log(`\nThe demo app (pid ${app.pid}) has been stopped.`);
  console.log(' Run `npm run demo` in a terminal to open `asyncmon top` on it; its agent also speaks the text REPL (`nc <host> <port>`, then `auth <token>` from its discovery file).');
}

main().catch((err) => {
  console.error(`demo: ${err.message}`);
  process.exitCode = 1;
  // The app would keep this process (and itself) running.
  stop();
});

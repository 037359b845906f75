/**
 * Takes a heap snapshot of a real Node process: runs `setup` (CommonJS source) in a child on the
 * given Node binary, then has the child snapshot itself through a `node:inspector` Session and
 * stream the chunks to a temp file, as the agent's capture will receive them.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

/** The Node binaries to test on: this one (20) and the CI's 22 and 24 when present. */
export function nodeBinaries(): Array<{ name: string; path: string }> {
  const out = [{ name: `node ${process.versions.node.split('.')[0]}`, path: process.execPath }];
  for (const v of ['22', '24']) {
    const path = join(homedir(), '.cache', 'asyncmon-node', `n${v}`, 'package', 'bin', 'node');
    if (existsSync(path) && !process.version.startsWith(`v${v}.`)) out.push({ name: `node ${v}`, path });
  }
  return out;
}

const SNAPSHOT = `
;(function takeSnapshot() {
  const inspector = require('node:inspector');
  const fs = require('node:fs');
  const out = fs.openSync(process.env.SNAPSHOT_FILE, 'w');
  const session = new inspector.Session();
  session.connect();
  session.on('HeapProfiler.addHeapSnapshotChunk', (m) => fs.writeSync(out, m.params.chunk));
  // Let the setup finish first (globalThis.ready, if it sets one), so every async function is
  // parked at its await.
  Promise.resolve(globalThis.ready).then(() => setTimeout(() => session.post('HeapProfiler.takeHeapSnapshot', { reportProgress: false }, (err) => {
    fs.closeSync(out);
    if (err) { console.error(err); process.exit(1); }
    process.exit(0);
  }), 50));
})();
`;

/** Runs `setup` then snapshots the child; returns the snapshot file's path. */
export function snapshotOf(setup: string, node = process.execPath, nodeArgs: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), 'asyncmon-heap-'));
  const script = join(dir, 'app.js');
  const file = join(dir, 'snapshot.heapsnapshot');
  writeFileSync(script, setup + SNAPSHOT);
  execFileSync(node, [...nodeArgs, script], { env: { ...process.env, NODE_OPTIONS: '', SNAPSHOT_FILE: file }, stdio: ['ignore', 'inherit', 'inherit'], timeout: 120_000 });
  return file;
}

#!/usr/bin/env node
// Prints the README's cost tables (Markdown) from bench results, one column per Node version:
//
//   node bench/table.mjs bench/results-node20.json bench/instructions-node20.json …
//
// Each file is what `npm run bench` wrote (BENCH_NODE picks the Node it measured). Files of the
// same Node major are merged, a section of a later file replacing the same section of an
// earlier one (a full run, then `--instructions`, then a rerun of `--only http`). A figure no
// file has is shown as "–". The first table sets the budgeted HTTP figures side by side:
// instructions per request (valgrind, `--instructions`) and throughput, each as a ratio to no
// agent; the second has every other figure.
import { readFileSync } from 'node:fs';

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write('usage: node bench/table.mjs results.json [more.json …]\n');
  process.exit(2);
}
const majorOf = (r) => String(r.node ?? '?').replace(/^v(\d+).*/, '$1');
const byMajor = new Map();
for (const f of files) {
  const r = JSON.parse(readFileSync(f, 'utf8'));
  const key = majorOf(r);
  byMajor.set(key, { ...byMajor.get(key), ...r });
}
const runs = [...byMajor.values()];

const fixed = (digits) => (v) => (Number.isFinite(v) ? v.toFixed(digits) : '–');
const ratio = fixed(2);
const ms = (v) => (Number.isFinite(v) ? `${Math.round(v)} ms` : '–');
const msFine = (v) => (Number.isFinite(v) ? `${v.toFixed(1)} ms` : '–');
const bytes = (v) => (Number.isFinite(v) ? `+${Math.round(v)} B` : '–');

/** [label, (run) => value, format, budget] */
const ROWS = [
  ['HTTP, `tasks` (default)', (r) => r.http?.results.tasks?.ratio, ratio, '≥ 0.97'],
  ['HTTP, `resources`', (r) => r.http?.results.resources?.ratio, ratio, ''],
  ['HTTP, `promises`', (r) => r.http?.results.promises?.ratio, ratio, '≥ 0.85'],
  ['HTTP, `promises`, stacks in tasks', (r) => r.http?.results['promises-st']?.ratio, ratio, '≥ 0.50'],
  ['HTTP, `promises`, stacks 1 in 64', (r) => r.http?.results['promises-s64']?.ratio, ratio, ''],
  ['HTTP, `promises`, stacks on', (r) => r.http?.results['promises-on']?.ratio, ratio, ''],
  ['HTTP, peer: why-is-node-running', (r) => r.http?.results.why?.ratio, ratio, ''],
  ['HTTP, peer: OTel AsyncHooksContextManager', (r) => r.http?.results['otel-ah']?.ratio, ratio, ''],
  ['HTTP, peer: OTel AsyncLocalStorageContextManager', (r) => r.http?.results['otel-als']?.ratio, ratio, ''],
  ['await loop, `tasks` (default)', (r) => r.loop?.results.tasks?.ratio, ratio, '≥ 0.97'],
  ['await loop, `resources`', (r) => r.loop?.results.resources?.ratio, ratio, ''],
  ['await loop, `promises`', (r) => r.loop?.results.promises?.ratio, ratio, ''],
  ['await loop, `promises`, stacks 1 in 64', (r) => r.loop?.results['promises-s64']?.ratio, ratio, ''],
  ['await loop, peer: why-is-node-running', (r) => r.loop?.results.why?.ratio, ratio, ''],
  ['await loop, peer: OTel AsyncHooksContextManager', (r) => r.loop?.results['otel-ah']?.ratio, ratio, ''],
  ['await loop, peer: OTel AsyncLocalStorageContextManager', (r) => r.loop?.results['otel-als']?.ratio, ratio, ''],
  ['memory per tracked pending promise, no stacks', (r) => r.memory?.results.promises?.addedBytesPerPromise, bytes, '≤ 120 B'],
  ['memory per tracked pending promise, stacks on', (r) => r.memory?.results['promises-on']?.addedBytesPerPromise, bytes, ''],
  ['`promises-all` to a client, 1k pending', (r) => r.listing?.results['stacks-off-1000']?.totalMs, ms, ''],
  ['`promises-all` to a client, 10k pending', (r) => r.listing?.results['stacks-off-10000']?.totalMs, ms, ''],
  ['`promises-all` to a client, 100k pending', (r) => r.listing?.results['stacks-off-100000']?.totalMs, ms, '≤ 150 ms'],
  ['longest hold of the main thread, 100k listing', (r) => r.listing?.results['stacks-off-100000']?.maxHoldMs, msFine, '≤ 10 ms'],
  ['`promises-all`, 100k pending with stacks', (r) => r.listing?.results['stacks-on-100000']?.totalMs, ms, ''],
  ['longest hold, 100k listing with stacks', (r) => r.listing?.results['stacks-on-100000']?.maxHoldMs, msFine, ''],
  ['`asyncmon check` wall time (median, Node start-up included)', (r) => r.latency?.checkMedianMs, ms, '≤ 300 ms'],
  ['`health` reply while the loop is blocked (max)', (r) => r.latency?.blockedReplyMaxMs, msFine, '≤ 250 ms'],
  ['HTTP while agent clients poll `ps` 640 times a second', (r) => r.clients?.ratio, ratio, '≥ 0.90'],
];

const major = (r) => `Node ${majorOf(r)}`;
const out = [];

// Budgeted HTTP figures: instructions per request beside throughput, ratios to no agent.
const spread = (x) => (x && Number.isFinite(x.ratio) ? `${x.ratio.toFixed(3)} (${x.ratioMin.toFixed(3)}–${x.ratioMax.toFixed(3)})` : '–');
const kilo = (v) => (Number.isFinite(v) ? `${Math.round(v / 1000)}k` : '–');
const SIDE = [
  ['no agent: instructions per request (min–max)', (r) => {
    const x = r.instructions?.results.none;
    return x ? `${kilo(x.perRequest)} (${kilo(x.perRequestMin)}–${kilo(x.perRequestMax)})` : '–';
  }, (r) => (Number.isFinite(r.http?.results.none?.median) ? `${Math.round(r.http.results.none.median)} req/s` : '–'), ''],
  ['HTTP, `tasks` (default)', (r) => spread(r.instructions?.results.tasks), (r) => ratio(r.http?.results.tasks?.ratio), '≤ 1.03 / ≥ 0.97'],
  ['HTTP, `promises`', (r) => spread(r.instructions?.results.promises), (r) => ratio(r.http?.results.promises?.ratio), '≤ 1.18 / ≥ 0.85'],
  ['HTTP, `promises`, stacks in tasks', (r) => spread(r.instructions?.results['promises-st']), (r) => ratio(r.http?.results['promises-st']?.ratio), '≤ 2.00 / ≥ 0.50'],
  ['default level, the per-request path alone (one thread, no I/O): instructions a request (share of no agent\'s), of which Node publishing / the agent\'s handlers', (r) => {
    const h = r.handlers;
    const none = r.instructions?.results.none?.perRequest;
    if (!h) return '–';
    const total = h.publishing + h.agent;
    return `${total}${Number.isFinite(none) ? ` (${((100 * total) / none).toFixed(1)}%)` : ''}: ${h.publishing} / ${h.agent}`;
  }, () => '–', ''],
  ['default level idle: instructions per second; share of a core', (r) => {
    const i = r.instructions?.idle;
    return i ? `${(i.instructionsPerSec / 1e6).toFixed(1)}M/s` : '–';
  }, (r) => (Number.isFinite(r.instructions?.idle?.coreShare) ? `${(r.instructions.idle.coreShare * 100).toFixed(2)}% of a core` : '–'), ''],
  ['one `awaits`, 10 MB heap: instructions (as requests); the host\'s pause', (r) => {
    const a = r.instructions?.awaits;
    return a ? `${(a.instructions / 1e9).toFixed(1)}G (${a.requestsOfNoAgent} requests)` : '–';
  }, (r) => {
    const z = r.awaits?.sizes?.find((x) => x.heapMb === 10);
    return z ? `${z.pauseMedianMs} ms pause` : '–';
  }, ''],
];
out.push(`| | ${runs.map((r) => `${major(r)} instructions | ${major(r)} throughput`).join(' | ')} | budget (instructions / throughput) |`);
out.push(`| --- | ${runs.map(() => '--- | ---').join(' | ')} | --- |`);
for (const [label, instr, thr, budget] of SIDE) out.push(`| ${label} | ${runs.map((r) => `${instr(r)} | ${thr(r)}`).join(' | ')} | ${budget} |`);
out.push('');

out.push(`| | ${runs.map(major).join(' | ')} | budget |`);
out.push(`| --- | ${runs.map(() => '---').join(' | ')} | --- |`);
for (const [label, get, format, budget] of ROWS) out.push(`| ${label} | ${runs.map((r) => format(get(r))).join(' | ')} | ${budget} |`);
process.stdout.write(`${out.join('\n')}\n`);

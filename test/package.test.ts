/**
 * The package as users get it: `npm pack` (which runs the `prepare` build), installed offline
 * into a scratch app in the OS temp dir, then used by name: `require('asyncmon')`,
 * `import … from 'asyncmon'`, `--require asyncmon/register`, `--import asyncmon/register` and
 * the `asyncmon` bin.
 *
 * The pack runs in a copy of the repository (without dist/, node_modules/ symlinked) rather than
 * in the repository itself: `prepare` rewrites dist/ in place, and other test files run built
 * code from dist/ at the same time. Packing a fresh copy also proves the tarball builds from
 * source alone, with no stale file of an earlier build slipping in.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { exitWithin, FIXTURES, REGISTER, ROOT, spawnNode } from './helpers/child.js';
import type { SpawnOptions } from './helpers/child.js';

const SETUP_MS = 120_000;
/** A loaded machine can take seconds to start node; once a fixture reports, it must exit soon. */
const WORK_MS = 30_000;
const EXIT_MS = 5_000;
vi.setConfig({ testTimeout: 60_000 });
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  main: string;
  types: string;
  bin: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
};

interface Result {
  code: number | string;
  stdout: string;
  stderr: string;
}

/** The environment for nested npm and node runs: nothing of an outer `npm test` leaks in. */
function cleanEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^npm_/i.test(k) && !/^ASYNCMON/.test(k) && k !== 'NODE_OPTIONS') env[k] = v;
  }
  return { ...env, ...extra };
}

/** Runs a command to its end, or fails after `timeoutMs` with what it printed. */
function run(cmd: string, args: string[], cwd: string, timeoutMs = 60_000, env = cleanEnv()): Promise<Result> {
  return new Promise((res, rej) => {
    const proc = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      rej(new Error(`${cmd} ${args.join(' ')} still running after ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    proc.on('error', (err) => {
      clearTimeout(timer);
      rej(err);
    });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code: code ?? signal ?? -1, stdout, stderr });
    });
  });
}

function show(r: Result): string {
  return `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

/** Every file path package.json points at (main, types, exports, bin). */
function entryPoints(): string[] {
  const out = new Set<string>([PKG.main, PKG.types, ...Object.values(PKG.bin)]);
  for (const target of Object.values(PKG.exports)) {
    for (const p of typeof target === 'string' ? [target] : Object.values(target)) out.add(p);
  }
  return [...out].map((p) => p.replace(/^\.\//, ''));
}

let work = '';
let app = '';
let tarball = '';
let packedFiles: string[] = [];
let installedWith = '';
/** What `npm install --offline` printed when it failed (before the --prefer-offline retry). */
let offlineFailure = '';

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'asyncmon-pack-'));

  // A copy of the repository to pack, without build output, tests or dependencies.
  const src = join(work, 'src');
  const skip = new Set(['node_modules', 'dist', '.git', 'test', 'coverage']);
  cpSync(ROOT, src, {
    recursive: true,
    filter: (from) => {
      const rel = relative(ROOT, from);
      return rel === '' || (!skip.has(rel.split(sep)[0]) && !rel.endsWith('.tgz'));
    },
  });
  symlinkSync(join(ROOT, 'node_modules'), join(src, 'node_modules'), 'dir');

  const packed = await run('npm', ['pack', '--pack-destination', work, '--json'], src, SETUP_MS);
  if (packed.code !== 0) throw new Error(`npm pack failed\n${show(packed)}`);
  const json = packed.stdout.slice(packed.stdout.search(/^\[/m));
  const info = (JSON.parse(json) as Array<{ filename: string; files: Array<{ path: string }> }>)[0];
  tarball = join(work, info.filename);
  packedFiles = info.files.map((f) => f.path);

  // A scratch app that installs the tarball the way a user would, from the npm cache only.
  app = join(work, 'app');
  cpSync(FIXTURES, app, { recursive: true, filter: (from) => from === FIXTURES || /[\\/](preload|pack)-[^\\/]*$/.test(from) });
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'asyncmon-scratch-app', version: '1.0.0', private: true }, null, 2));
  cpSync(join(FIXTURES, 'pack-app.cjs'), join(app, 'app.js'));
  cpSync(join(FIXTURES, 'pack-app.mjs'), join(app, 'app.mjs'));

  const common = ['install', tarball, '--no-audit', '--no-fund', '--prefix', app];
  let installed = await run('npm', [...common, '--offline'], app, SETUP_MS);
  installedWith = '--offline';
  if (installed.code !== 0) {
    offlineFailure = show(installed);
    installed = await run('npm', [...common, '--prefer-offline'], app, SETUP_MS);
    installedWith = '--prefer-offline';
  }
  if (installed.code !== 0) throw new Error(`npm install of the tarball failed\n${show(installed)}`);
}, SETUP_MS * 3);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs a script in the scratch app with the current node; it must exit by itself. */
async function runInApp(script: string, opts: SpawnOptions = {}): Promise<{ code: number | string; report: Record<string, unknown> | null; output: string }> {
  const child = spawnNode(script, { cwd: app, ...opts, env: cleanEnv(opts.env) });
  try {
    await child.waitFor(/^(REPORT|FAILED) /m, WORK_MS).catch(() => undefined);
    const code = await exitWithin(child, EXIT_MS);
    const match = child.stdout().match(/^REPORT (.*)$/m);
    return {
      code,
      report: match ? (JSON.parse(match[1]) as Record<string, unknown>) : null,
      output: `exit ${code}\nstdout:\n${child.stdout()}\nstderr:\n${child.stderr()}`,
    };
  } finally {
    child.kill();
  }
}

describe('npm pack', () => {
  it('installs offline', () => {
    // The dependencies come from the npm cache the repository's own install filled.
    expect(installedWith, `npm install --offline failed:\n${offlineFailure}`).toBe('--offline');
    const names = readdirSync(join(app, 'node_modules')).sort();
    expect(names).toEqual(expect.arrayContaining(['@opentelemetry', 'asyncmon', 'blessed', 'commander']));
  });

  it('the tarball holds every entry point package.json names', () => {
    for (const file of entryPoints()) expect(packedFiles, `${file} is named in package.json`).toContain(file);
    expect(packedFiles).toContain('package.json');
  });

  it('the tarball holds no TypeScript sources, tests or fixtures', () => {
    const stray = packedFiles.filter((f) => /^(test|src|agent|cli)\//.test(f) || (/\.[cm]?ts$/.test(f) && !/\.d\.[cm]?ts$/.test(f)));
    expect(stray).toEqual([]);
  });
});

describe('the installed package', () => {
  it("require('asyncmon') exposes the API", async () => {
    const r = await runInApp('pack-api.cjs');
    expect(r.code, r.output).toBe(0);
    expect(r.report, r.output).toEqual({
      resolved: resolve(app, 'node_modules', 'asyncmon', 'dist', 'agent', 'index.js'),
      version: PKG.version,
      types: { task: 'function', cancel: 'function', track: 'function', snapshot: 'function', where: 'function', tree: 'function', handles: 'function' },
      errorClass: 'function',
      inside: { tasks: ['packed-cjs'], tree: ['packed-cjs'] },
      history: [['packed-cjs', 'finished']],
    });
  });

  it("import { task } from 'asyncmon' works in an .mjs file, and is the CommonJS module", async () => {
    const r = await runInApp('pack-api.mjs');
    expect(r.code, r.output).toBe(0);
    const report = r.report as { resolved: string | null; exports: string[]; sameAsRequire: boolean; inside: string[] };
    expect(report, r.output).not.toBeNull();
    expect(report.exports).toEqual(expect.arrayContaining(['task', 'cancel', 'track', 'snapshot', 'where', 'tree', 'handles', 'default']));
    expect(report.sameAsRequire).toBe(true);
    expect(report.inside).toEqual(['packed-esm']);
    if (report.resolved) expect(report.resolved).toMatch(/\/node_modules\/asyncmon\/dist\/agent\/index\.mjs$/);
  });

  const preloads: Array<{ name: string; script: string; opts: SpawnOptions }> = [
    { name: 'node --require asyncmon/register app.js', script: 'app.js', opts: { nodeArgs: ['--require', 'asyncmon/register'] } },
    { name: 'node --import asyncmon/register app.mjs', script: 'app.mjs', opts: { nodeArgs: ['--import', 'asyncmon/register'] } },
    { name: 'NODE_OPTIONS="--require asyncmon/register" node app.js', script: 'app.js', opts: { env: { NODE_OPTIONS: '--require asyncmon/register' } } },
  ];
  for (const p of preloads) {
    it(`${p.name} (ASYNCMON_TRACK=promises)`, async () => {
      const r = await runInApp(p.script, { ...p.opts, env: { ...p.opts.env, ASYNCMON_TRACK: 'promises' } });
      expect(r.code, r.output).toBe(0);
      expect(r.report, r.output).toMatchObject({
        seenAtStart: true,
        sameAgent: true,
        body: 'served',
        tracker: { level: 'promises', stacks: 'off', disabledReason: null },
        faults: 0,
      });
      expect(r.report?.insideTasks).toContainEqual({ name: 'fixture-work', kind: 'task', state: 'running' });
    });
  }

  it('a preload from one copy of asyncmon and an API from another share one agent', async () => {
    const r = await runInApp('pack-two-copies.cjs', { nodeArgs: ['--require', REGISTER], env: { ASYNCMON_TRACK: 'promises', ASYNCMON_STACKS: 'on' } });
    expect(r.code, r.output).toBe(0);
    expect(r.report, r.output).toMatchObject({
      seenAtStart: true,
      sameAgent: true,
      tracker: { level: 'promises', stacks: 'on', disabledReason: null },
      tasks: ['held'],
    });
  });

  // Known bug: `ownScope` (agent/host/own-scope.ts) and OWN_DIRS (agent/host/stack-capture.ts) are per copy
  // of the package, so the promises task() makes for itself through the second copy show in the
  // agent's listings (sites in node_modules/asyncmon/dist/agent/host/task.js). Drop `.fails` when fixed.
  it("with two copies, the second copy's own promises stay out of the listings", async () => {
    const r = await runInApp('pack-two-copies.cjs', { nodeArgs: ['--require', REGISTER], env: { ASYNCMON_TRACK: 'promises', ASYNCMON_STACKS: 'on' } });
    expect(r.code, r.output).toBe(0);
    const sites = (r.report?.promiseSites ?? []) as Array<string | null>;
    expect(sites.length, r.output).toBeGreaterThan(0);
    expect(sites.filter((s) => s === null || /[\\/]asyncmon[\\/]dist[\\/]/.test(s)), r.output).toEqual([]);
  });
});

describe('the asyncmon bin', () => {
  const bin = () => join(app, 'node_modules', '.bin', 'asyncmon');

  it('node_modules/.bin/asyncmon --version prints the package version', async () => {
    const r = await run(bin(), ['--version'], app, WORK_MS);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout.trim()).toBe(PKG.version);
  });

  it('npx asyncmon --version prints the package version, offline', async () => {
    const r = await run('npx', ['--no', '--offline', 'asyncmon', '--version'], app, 60_000);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout.trim()).toBe(PKG.version);
  });

  it('asyncmon --help exits 0 with a usage line', async () => {
    const r = await run(bin(), ['--help'], app, WORK_MS);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/^Usage: asyncmon\b/m);
  });
});

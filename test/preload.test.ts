/**
 * The preload, in real child processes: `node --require dist/agent/register.js app.cjs`,
 * `node --import <register> app.mjs` and `NODE_OPTIONS`. The fixture apps (test/fixtures/preload-*)
 * note whether the agent exists before their own first line, use the API (`require` or `import`),
 * do a little real work (a timer, an HTTP server serving one request, a fetch, a task) and print
 * one `REPORT {json}` line. Every process must then exit by itself: the agent keeps nothing alive.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { exitWithin, FIXTURES, REGISTER, spawnNode } from './helpers/child.js';
import type { SpawnOptions } from './helpers/child.js';

/**
 * A fixture needs about 0.3 s, but a loaded machine can take seconds just to start node, so the
 * work gets a wide margin; once the report is out, the process must be gone within EXIT_MS.
 */
const WORK_MS = 30_000;
const EXIT_MS = 5_000;
vi.setConfig({ testTimeout: WORK_MS + EXIT_MS + 5_000 });
const REGISTER_URL = pathToFileURL(REGISTER).href;

interface Report {
  seenAtStart: boolean;
  sameAgent: boolean;
  globalNow: boolean;
  body: string;
  tracker: { level: string; stacks: string | number; disabledReason: string | null };
  insideTasks: Array<{ name: string; kind: string; state: string }>;
  duringRequest: Array<{ id: number; name: string; kind: string; parentId: number | null }>;
  history: Array<{ name: string; kind: string; outcome: string }>;
  faults: number;
}

interface Run {
  code: number | string;
  stdout: string;
  stderr: string;
  report: Report | null;
  /** stdout and stderr, for failure messages. */
  output: string;
}

/**
 * Runs a fixture to its end and parses its report. Once the fixture has printed its report its
 * work is done, and it must exit by itself within EXIT_MS.
 */
async function runFixture(name: string, opts: SpawnOptions = {}): Promise<Run> {
  const child = spawnNode(resolve(FIXTURES, name), opts);
  try {
    await child.waitFor(/^(REPORT|FAILED) /m, WORK_MS).catch(() => undefined);
    const code = await exitWithin(child, EXIT_MS);
    const match = child.stdout().match(/^REPORT (.*)$/m);
    return {
      code,
      stdout: child.stdout(),
      stderr: child.stderr(),
      report: match ? (JSON.parse(match[1]) as Report) : null,
      output: `exit ${code}\nstdout:\n${child.stdout()}\nstderr:\n${child.stderr()}`,
    };
  } finally {
    child.kill();
  }
}

/** The ways in, each with the fixture it suits. */
const WAYS: Array<{ name: string; script: string; opts: SpawnOptions }> = [
  { name: 'CommonJS: node --require <path>', script: 'preload-app.cjs', opts: { nodeArgs: ['--require', REGISTER] } },
  { name: 'ESM: node --import <file URL>', script: 'preload-app.mjs', opts: { nodeArgs: ['--import', REGISTER_URL] } },
  { name: 'ESM: node --import <path>', script: 'preload-app.mjs', opts: { nodeArgs: ['--import', REGISTER] } },
  { name: 'ESM: node --require <path>', script: 'preload-app.mjs', opts: { nodeArgs: ['--require', REGISTER] } },
  { name: 'CommonJS: NODE_OPTIONS="--require <path>"', script: 'preload-app.cjs', opts: { env: { NODE_OPTIONS: `--require "${REGISTER}"` } } },
  { name: 'ESM: NODE_OPTIONS="--import <file URL>"', script: 'preload-app.mjs', opts: { env: { NODE_OPTIONS: `--import "${REGISTER_URL}"` } } },
];

/** Environments the agent must stay harmless under, with the tracker state each should give. */
const LEVELS: Array<{ name: string; env: Record<string, string>; level: string; stacks: string | number }> = [
  { name: 'default level', env: {}, level: 'tasks', stacks: 'off' },
  { name: 'ASYNCMON_TRACK=resources', env: { ASYNCMON_TRACK: 'resources' }, level: 'resources', stacks: 'off' },
  { name: 'ASYNCMON_TRACK=promises', env: { ASYNCMON_TRACK: 'promises' }, level: 'promises', stacks: 'off' },
  { name: 'ASYNCMON_TRACK=promises ASYNCMON_STACKS=on', env: { ASYNCMON_TRACK: 'promises', ASYNCMON_STACKS: 'on' }, level: 'promises', stacks: 'on' },
  { name: 'ASYNCMON_TRACK=resources ASYNCMON_STACKS=on', env: { ASYNCMON_TRACK: 'resources', ASYNCMON_STACKS: 'on' }, level: 'resources', stacks: 'on' },
];

/** Clears every ASYNCMON* variable the test runner may have inherited, then applies `env`. */
function agentEnv(env: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  const cleared = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('ASYNCMON')).map((k) => [k, undefined]));
  return { ...cleared, ...env };
}

function withEnv(opts: SpawnOptions, env: Record<string, string | undefined>): SpawnOptions {
  return { ...opts, env: agentEnv({ ...opts.env, ...env }) };
}

beforeAll(() => {
  if (!existsSync(REGISTER)) throw new Error(`${REGISTER} is missing: run \`npm run build\` first`);
});

describe('the preload starts the agent before the app and the app shares it', () => {
  for (const way of WAYS) {
    it(way.name, async () => {
      const run = await runFixture(way.script, withEnv(way.opts, {}));
      expect(run.code, run.output).toBe(0);
      expect(run.report, run.output).not.toBeNull();
      const report = run.report!;
      // The agent existed before the app's first line, and the API the app loaded uses it.
      expect(report.seenAtStart, run.output).toBe(true);
      expect(report.sameAgent, run.output).toBe(true);
      expect(report.body).toBe('served');
      // snapshot() shows the task the app started, and the HTTP request it served, as tasks.
      expect(report.insideTasks).toContainEqual({ name: 'fixture-work', kind: 'task', state: 'running' });
      expect(report.duringRequest).toContainEqual(expect.objectContaining({ name: 'GET /one', kind: 'http-server' }));
      expect(report.history).toContainEqual({ name: 'fixture-work', kind: 'task', outcome: 'finished' });
      expect(report.tracker).toEqual({ level: 'tasks', stacks: 'off', disabledReason: null });
      expect(report.faults).toBe(0);
      // A healthy agent says nothing.
      expect(run.stderr).toBe('');
    });
  }
});

describe('the process exits by itself when its work is done: the agent keeps nothing alive', () => {
  const ways = WAYS.filter((w) => w.opts.nodeArgs);
  for (const level of LEVELS) {
    describe(level.name, () => {
      for (const way of ways) {
        it(way.name, async () => {
          const run = await runFixture(way.script, withEnv(way.opts, level.env));
          expect(run.code, run.output).toBe(0);
          expect(run.report?.seenAtStart, run.output).toBe(true);
          expect(run.report?.tracker, run.output).toEqual({ level: level.level, stacks: level.stacks, disabledReason: null });
          expect(run.report?.faults, run.output).toBe(0);
          expect(run.stderr).toBe('');
        });
      }
    });
  }
});

describe('an idle preloaded process: the agent stays quiet', () => {
  for (const args of [['--require', REGISTER], ['--import', REGISTER_URL]]) {
    it(`little CPU and no new threads over an idle second (node ${args[0]})`, async () => {
      const run = await runFixture('preload-idle.cjs', { nodeArgs: args, env: agentEnv() });
      expect(run.code, run.output).toBe(0);
      const report = run.report as unknown as { seenAtStart: boolean; idleCpuMs: number; threadsBefore: number | null; threadsAfter: number | null };
      expect(report.seenAtStart, run.output).toBe(true);
      // Without the agent this is a few ms; a busy agent burns most of a core.
      expect(report.idleCpuMs, run.output).toBeLessThan(300);
      if (report.threadsBefore !== null && report.threadsAfter !== null) {
        expect(report.threadsAfter - report.threadsBefore, `threads grew while idle\n${run.output}`).toBeLessThanOrEqual(2);
      }
    });
  }
});

describe('environment variables', () => {
  it('ASYNCMON_TRACK=promises and ASYNCMON_STACKS=8 are applied', async () => {
    const run = await runFixture('preload-app.cjs', { nodeArgs: ['--require', REGISTER], env: agentEnv({ ASYNCMON_TRACK: 'promises', ASYNCMON_STACKS: '8' }) });
    expect(run.code, run.output).toBe(0);
    expect(run.report?.tracker, run.output).toEqual({ level: 'promises', stacks: 8, disabledReason: null });
  });

  it('ASYNCMON_STACKS alone keeps the default level', async () => {
    const run = await runFixture('preload-app.mjs', { nodeArgs: ['--import', REGISTER_URL], env: agentEnv({ ASYNCMON_STACKS: 'on' }) });
    expect(run.code, run.output).toBe(0);
    expect(run.report?.tracker, run.output).toEqual({ level: 'tasks', stacks: 'on', disabledReason: null });
  });

  for (const value of ['0', 'false']) {
    for (const way of WAYS.slice(0, 2)) {
      it(`ASYNCMON=${value} turns the preload off (${way.name})`, async () => {
        const run = await runFixture(way.script, withEnv(way.opts, { ASYNCMON: value }));
        expect(run.code, run.output).toBe(0);
        // No agent before the app's first line; the app's own task() still works.
        expect(run.report?.seenAtStart, run.output).toBe(false);
        expect(run.report?.insideTasks).toContainEqual({ name: 'fixture-work', kind: 'task', state: 'running' });
        expect(run.stderr).toBe('');
      });
    }
  }

  const bad: Array<Record<string, string>> = [{ ASYNCMON_TRACK: 'bogus' }, { ASYNCMON_STACKS: 'bogus' }, { ASYNCMON_TRACK: 'promises', ASYNCMON_STACKS: '-3' }, { ASYNCMON_AWAITS_MAX_HEAP_MB: 'lots' }];
  for (const env of bad) {
    const label = Object.entries(env)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    for (const way of WAYS.slice(0, 2)) {
      it(`${label}: one line on stderr, and the app still runs (${way.name})`, async () => {
        const run = await runFixture(way.script, withEnv(way.opts, env));
        const lines = run.stderr.split('\n').filter((l) => l.length > 0);
        expect(lines, run.output).toHaveLength(1);
        expect(lines[0]).toMatch(/^asyncmon:/);
        // The line names the value that was wrong.
        expect(lines[0]).toContain(Object.values(env).at(-1));
        expect(run.code, run.output).toBe(0);
        expect(run.report?.body, run.output).toBe('served');
      });
    }
  }
});

describe('one agent per process', () => {
  it('an app preloaded and loading the package by import and by require shares one agent', async () => {
    const child = spawnNode(resolve(FIXTURES, 'preload-both.mjs'), { nodeArgs: ['--import', REGISTER_URL], env: agentEnv({ ASYNCMON_TRACK: 'resources' }) });
    try {
      await child.waitFor(/^REPORT /m, WORK_MS).catch(() => undefined);
      const code = await exitWithin(child, EXIT_MS);
      const output = `exit ${code}\nstdout:\n${child.stdout()}\nstderr:\n${child.stderr()}`;
      expect(code, output).toBe(0);
      const report = JSON.parse(child.stdout().match(/^REPORT (.*)$/m)?.[1] ?? 'null') as Record<string, unknown> | null;
      expect(report, output).toEqual({
        seenAtStart: true,
        sameAgent: true,
        sameModule: true,
        seenByCjs: ['via-import', 'via-require'],
        seenByEsm: ['via-import', 'via-require'],
        tracker: { level: 'resources', stacks: 'off', disabledReason: null },
        historyByEsm: expect.arrayContaining(['via-import', 'via-require']),
      });
    } finally {
      child.kill();
    }
  });

  it('preloading twice (--require and NODE_OPTIONS) still makes one agent and no noise', async () => {
    const run = await runFixture('preload-app.cjs', {
      nodeArgs: ['--require', REGISTER],
      env: agentEnv({ NODE_OPTIONS: `--require "${REGISTER}"`, ASYNCMON_TRACK: 'promises' }),
    });
    expect(run.code, run.output).toBe(0);
    expect(run.report?.sameAgent, run.output).toBe(true);
    expect(run.report?.tracker.level).toBe('promises');
    expect(run.stderr).toBe('');
  });
});

// Hardening: the agent must not disturb the host's own async context. The fixture has an
// AsyncLocalStorage of its own and @opentelemetry/api's context with a real (AsyncLocalStorage)
// context manager, and checks both across awaits, timers, nextTick, setImmediate, HTTP (server
// handlers and client side) and task() boundaries; it also reads the span ids task() records.
// Every level is run, with ASYNCMON=0 as the control that shows what the app sees without us.
import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { FIXTURES, REGISTER, exitWithin, spawnNode } from './helpers/child.js';
import { Cleanups } from './helpers/cli.js';
import { agentEnv, makeToken } from './helpers/wire.js';

// The cases run concurrently, so each has its own cleanups (a shared afterEach would kill the
// other cases' children).

interface ContextResult {
  checks: Record<string, boolean>;
  traced: { traceId: string | null; spanId: string | null } | null;
  untraced: { traceId: string | null; spanId: string | null } | null;
  faults: number;
  tracker: { level: string; stacks: string; disabledReason: string | null };
}

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const SPAN_ID = 'b7ad6b7169203331';

const CASES: Array<{ name: string; env: Record<string, string>; level: string; stacks: string }> = [
  { name: 'control: agent off (ASYNCMON=0)', env: { ASYNCMON: '0' }, level: 'tasks', stacks: 'off' },
  { name: 'tasks', env: { ASYNCMON_TRACK: 'tasks' }, level: 'tasks', stacks: 'off' },
  { name: 'resources', env: { ASYNCMON_TRACK: 'resources' }, level: 'resources', stacks: 'off' },
  { name: 'promises', env: { ASYNCMON_TRACK: 'promises' }, level: 'promises', stacks: 'off' },
  { name: 'promises with stacks on', env: { ASYNCMON_TRACK: 'promises', ASYNCMON_STACKS: 'on' }, level: 'promises', stacks: 'on' },
];

async function runContextApp(cleanups: Cleanups, env: Record<string, string>): Promise<{ result: ContextResult; code: number | string; stderr: string }> {
  const dir = cleanups.runtimeDir();
  const child = spawnNode(resolve(FIXTURES, 'context-app.cjs'), {
    nodeArgs: ['--require', REGISTER],
    env: agentEnv({ ASYNCMON_PORT: '0', ASYNCMON_TOKEN: makeToken(), XDG_RUNTIME_DIR: dir, ...env }),
  });
  cleanups.add(() => child.kill());
  const m = await child.waitFor(/^RESULT (.*)$/m, 20_000);
  const code = await exitWithin(child, 15_000);
  return { result: JSON.parse(m[1]) as ContextResult, code, stderr: child.stderr() };
}

describe.concurrent('the host keeps its AsyncLocalStorage and OpenTelemetry context', () => {
  for (const c of CASES) {
    it(`${c.name}: across awaits, timers, HTTP handlers and task() boundaries; task() records the active span`, async () => {
      const cleanups = new Cleanups();
      let run: Awaited<ReturnType<typeof runContextApp>>;
      try {
        run = await runContextApp(cleanups, c.env);
      } finally {
        cleanups.run();
      }
      const { result, code, stderr } = run;
      expect(code, stderr).toBe(0);
      expect(stderr).toBe('');
      expect(result.tracker).toEqual({ level: c.level, stacks: c.stacks, disabledReason: null });
      expect(result.faults).toBe(0);
      // Every check ran (a flow that lost its way would record fewer) and held.
      expect(Object.keys(result.checks).length).toBeGreaterThanOrEqual(70);
      const failed = Object.entries(result.checks).filter(([, ok]) => !ok).map(([name]) => name);
      expect(failed).toEqual([]);
      for (const name of ['a:task-inside', 'b:nested-inside', 'req-2:handler-task', 'client-3:http.get-end', 'span:active-after-await', 'http:bodies']) {
        expect(result.checks[name], name).toBe(true);
      }
      // task() takes the ids of the span active where it was called, and none without a span.
      expect(result.traced).toEqual({ traceId: TRACE_ID, spanId: SPAN_ID });
      expect(result.untraced).toEqual({ traceId: null, spanId: null });
    }, 40_000);
  }
});

/**
 * Sites and stacks of a TypeScript app are shown at the `.ts` file, line and column, through
 * the process's source maps: under tsx (`node --import tsx`, maps in memory only, inline in the
 * transformed code) and built with tsc (`.js` + `.js.map` files, run under
 * `node --enable-source-maps`). The fixture is test/fixtures/ts-app.ts. Each way is checked on
 * the main thread (a task's creation site, the census's callback site) and in the agent's
 * worker (the blocked loop's stack, read through the inspector).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIST, FIXTURES, REGISTER, ROOT, waitUntil } from './helpers/child.js';
import { markedLine, openJson, startApp } from './helpers/wire.js';
import type { App, WireClient } from './helpers/wire.js';

const SCRIPT = 'ts-app.ts';
const TS_FILE = resolve(FIXTURES, SCRIPT);
const source = readFileSync(TS_FILE, 'utf8').split('\n');
/** The 1-based line of a mark, and the 1-based column where `text` starts on it. */
function at(mark: string, text: string): { line: number; column: number } {
  const line = markedLine(SCRIPT, mark);
  const column = source[line - 1].indexOf(text) + 1;
  if (column === 0) throw new Error(`no "${text}" on the line of @mark:${mark}`);
  return { line, column };
}

let built: string;

beforeAll(() => {
  if (!existsSync(REGISTER)) throw new Error(`${REGISTER} is missing: run \`npm run build\` first`);
  built = mkdtempSync(join(tmpdir(), 'asyncmon-ts-'));
  execFileSync(process.execPath, [
    resolve(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
    TS_FILE,
    '--outDir', built,
    '--sourceMap',
    '--module', 'commonjs',
    '--target', 'es2022',
    '--strict',
    '--skipLibCheck',
    '--types', 'node',
    '--typeRoots', resolve(ROOT, 'node_modules', '@types'),
  ]);
});

afterAll(() => {
  if (built) rmSync(built, { recursive: true, force: true });
});

const WAYS = [
  { name: 'tsx (node --import tsx)', script: () => SCRIPT, nodeArgs: ['--import', 'tsx'] },
  { name: 'tsc output under node --enable-source-maps', script: () => join(built, 'ts-app.js'), nodeArgs: ['--enable-source-maps'] },
];

for (const way of WAYS) {
  describe(way.name, () => {
    let app: App;
    let json: WireClient;

    beforeAll(async () => {
      app = await startApp(way.script(), { AGENT_INDEX: resolve(DIST, 'agent', 'index.js'), SPIN_MS: '1500' }, 20_000, way.nodeArgs);
      json = await openJson(app.port, app.token);
    });

    afterAll(() => {
      json?.close();
      app?.stop();
    });

    it('a task’s creation site is the .ts line and column of its task(…) call', async () => {
      const ps = await json.ok('ps');
      const t = (ps.items as Array<{ name: string; site: { file: string; line: number; column: number } }>).find((x) => x.name === 'ts-waiter');
      expect(t, JSON.stringify(ps)).toBeDefined();
      expect(t!.site).toMatchObject({ file: TS_FILE, ...at('task', 'task<never>') });
      const where = await json.ok('where', { id: (t as unknown as { id: number }).id });
      // V8 places a call at its callee's name (`task` of `api.task`). Every frame at the .ts file
      // is within its line (raw positions under tsx point far past it).
      for (const f of where.stack as Array<{ file: string; line: number; column: number }>) {
        if (f.file !== TS_FILE) continue;
        expect(f.column, JSON.stringify(f)).toBeLessThanOrEqual(source[f.line - 1].length + 1);
      }
    });

    it('the census names the interval’s callback at its .ts line', async () => {
      const handles = await json.ok('handles');
      const h = (handles.items as Array<{ kind: string; callback: { fn: string; file: string; line: number } | null }>).find((x) => x.callback?.fn === 'pollQueue');
      expect(h, JSON.stringify(handles)).toBeDefined();
      expect(h!.callback).toMatchObject({ file: TS_FILE, line: markedLine(SCRIPT, 'poll') });
    });

    it('the blocked loop’s stack, read by the worker, is at the .ts line and column', async () => {
      process.kill(app.pid, 'SIGUSR2');
      await app.child.waitFor(/^SPIN-START/m);
      const health = await waitUntil(async () => {
        const h = await json.ok('health');
        return h.status === 'blocked' && h.stack.length > 0 ? h : null;
      }, 5000, 'a blocked health with a stack');
      const spin = at('spin', 'while');
      expect(health.stack[0]).toMatchObject({ fn: 'crunch', file: TS_FILE, line: spin.line });
      // The pause lands somewhere in the loop's line: the condition or the body.
      expect(health.stack[0].column).toBeGreaterThanOrEqual(spin.column);
      expect(health.stack[0].column).toBeLessThanOrEqual(source[spin.line - 1].length);
      await app.child.waitFor(/^SPIN-END/m, 15_000);
    });
  });
}

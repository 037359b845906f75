// End to end: `asyncmon attach <pid>` loads the agent into a plain Node process that loaded
// nothing (CommonJS and ES module mains), through the inspector the target opens on SIGUSR1
// at 127.0.0.1:9229, and closes that port again. The tests share port 9229, so they run one
// at a time, and each is skipped, saying why, when something else holds the port.
import { afterEach, describe, expect, it } from 'vitest';
import type { TestContext } from 'vitest';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { FIXTURES, isAlive } from './helpers/child.js';
import { Cleanups, cliIn, json, ok, show } from './helpers/cli.js';
import { markedLine, readDiscovery, tryConnect } from './helpers/wire.js';

const INSPECTOR_PORT = 9229;

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

/** Skips the test, saying why, when another program holds the inspector port. */
async function needInspectorPort(ctx: TestContext): Promise<void> {
  const state = await tryConnect(INSPECTOR_PORT, '127.0.0.1', 2000);
  if (state === 'connected') {
    ctx.skip(`127.0.0.1:${INSPECTOR_PORT} is already in use by another program on this machine; attach needs it free`);
  }
}

describe.sequential('attach', () => {
  for (const script of ['cli-plain.cjs', 'cli-plain.mjs']) {
    it(`loads the agent into a plain ${script.endsWith('.mjs') ? 'ES module' : 'CommonJS'} app; ps and handles then work; the inspector is closed again`, async (ctx) => {
      await needInspectorPort(ctx);
      const dir = cleanups.runtimeDir();
      const app = await cleanups.fixture(script, { runtimeDir: dir, preload: false });
      const cli = cliIn(dir);
      expect(readDiscovery(dir, app.pid)).toBeUndefined();

      const attached = ok(await cli('attach', String(app.pid)));
      const m = /^✓ agent started in process (\d+) at (127\.0\.0\.1:(\d+))$/m.exec(attached.stdout);
      expect(m, show(attached)).not.toBeNull();
      expect(Number(m![1])).toBe(app.pid);
      const record = readDiscovery(dir, app.pid);
      expect(record).toMatchObject({ pid: app.pid, host: '127.0.0.1', port: Number(m![3]) });

      // The inspector port is closed again: nothing answers there any more.
      expect(await tryConnect(INSPECTOR_PORT, '127.0.0.1', 2000)).toBe('ECONNREFUSED');

      const ps = ok(await cli('ps', '-t', String(app.pid)));
      expect(ps.stdout).toBe('no live tasks\n');
      expect(json(ok(await cli('ps', '-t', String(app.pid), '--json')))).toEqual({ total: 0, items: [] });

      const line = markedLine(script, 'plain-tick');
      const handles = json(ok(await cli('handles', '-t', String(app.pid), '--json')));
      expect(handles.items).toContainEqual(
        expect.objectContaining({ kind: 'interval', detail: 'every 200ms', callback: expect.objectContaining({ fn: 'plainTick', file: resolve(FIXTURES, script), line }) }),
      );
      const text = ok(await cli('handles', '-t', String(app.pid)));
      expect(text.stdout).toMatch(new RegExp(`interval +every 200ms +plainTick \\(test/fixtures/${script.replace('.', '\\.')}:${line}:\\d+\\)`));

      // The app runs on.
      expect(isAlive(app.pid)).toBe(true);
      expect(app.child.stdout()).not.toMatch(/FAILED/);
    });
  }

  it('attaching again says the agent is already there and exits 0, without opening the inspector', async (ctx) => {
    await needInspectorPort(ctx);
    const dir = cleanups.runtimeDir();
    const app = await cleanups.fixture('cli-plain.cjs', { runtimeDir: dir, preload: false });
    const cli = cliIn(dir);
    const first = ok(await cli('attach', String(app.pid), '--json'));
    const address = json(first);
    expect(address).toMatchObject({ pid: app.pid, alreadyRunning: false, address: { host: '127.0.0.1', port: expect.any(Number) } });

    const again = ok(await cli('attach', String(app.pid)));
    expect(again.stdout).toContain(`✓ process ${app.pid} already runs an agent at 127.0.0.1:${address.address.port}`);
    expect(json(ok(await cli('attach', String(app.pid), '--json')))).toMatchObject({ pid: app.pid, alreadyRunning: true, address: address.address });
    expect(await tryConnect(INSPECTOR_PORT, '127.0.0.1', 2000)).toBe('ECONNREFUSED');
    // Still one agent, still answering.
    expect(json(ok(await cli('health', '--json')))).toMatchObject({ status: 'ok', pid: app.pid });
  });

  it('refuses a pid that does not exist (exit 2)', async () => {
    const dir = cleanups.runtimeDir();
    // Above the kernel's usual pid_max (32768 or 4194304 on 64-bit), so no process has it.
    const pid = 999_999;
    expect(isAlive(pid)).toBe(false);
    const r = await cliIn(dir)('attach', String(pid));
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toContain(`no such process: ${pid}`);
  });

  it('refuses a process that is not Node (exit 2) and leaves it alone', async () => {
    const dir = cleanups.runtimeDir();
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    cleanups.add(() => sleeper.kill('SIGKILL'));
    const exited = new Promise<string>((r) => sleeper.on('exit', (code, signal) => r(`exit ${code} ${signal}`)));
    await new Promise<void>((r, j) => {
      sleeper.once('spawn', () => r());
      sleeper.once('error', j);
    });
    const pid = sleeper.pid!;
    const r = await cliIn(dir)('attach', String(pid));
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toContain('does not look like Node.js');
    expect(isAlive(pid)).toBe(true);
    expect(sleeper.exitCode).toBeNull();
    expect(sleeper.signalCode).toBeNull();
    sleeper.kill('SIGKILL');
    expect(await exited).toBe('exit null SIGKILL');
  });
});

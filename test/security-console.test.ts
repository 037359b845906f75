/**
 * Issue 12, finding 6: a typo in `console` (or a JSON `eval`) must never end the host with an
 * unhandled rejection: a promise the typed code made or left in its result gets a handler that
 * reports the rejection to that session. And (low): an open console does not break the host's
 * own assignment to a global `_`. Against a fixture app in a child process, on its real port.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WAIT_MS, openJson, openText, startApp } from './helpers/wire.js';
import type { App, WireClient } from './helpers/wire.js';

const apps: App[] = [];
const clients: WireClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  for (const a of apps.splice(0)) a.stop();
});

async function consoleOn(): Promise<{ app: App; c: WireClient }> {
  const app = await startApp('server-app.cjs', {});
  apps.push(app);
  const c = await openText(app.port, app.token);
  clients.push(c);
  c.send('console');
  await c.untilPrompt('> ');
  return { app, c };
}

/** The host is alive and its agent answers. */
async function hostAlive(app: App): Promise<void> {
  expect(app.child.proc.exitCode, app.child.stderr()).toBeNull();
  const j = await openJson(app.port, app.token);
  clients.push(j);
  expect((await j.request('health')).ok).toBe(true);
  expect(app.child.stderr()).not.toMatch(/Unhandled|triggerUncaughtException/);
}

describe('finding 6: a typo in console crashes the host', () => {
  it('Promise.reject(new Error(…)) typed at the console is reported there; the host lives', async () => {
    const { app, c } = await consoleOn();
    expect(await c.command("Promise.reject(new Error('x'))", WAIT_MS, '> ')).toMatch(/^Promise \{/);
    expect(await c.untilPrompt('> ')).toBe('Uncaught (in promise) Error: x');
    expect(await c.command('1+1', WAIT_MS, '> ')).toBe('2');
    await hostAlive(app);
  });

  it('a fetch() that fails and is not awaited is reported when it fails; the host lives', async () => {
    const { app, c } = await consoleOn();
    expect(await c.command("fetch('http://127.0.0.1:1/')", WAIT_MS, '> ')).toMatch(/^Promise \{/);
    expect(await c.untilPrompt('> ', 10_000)).toMatch(/^Uncaught \(in promise\) TypeError: fetch failed/);
    await hostAlive(app);
  });

  it('a rejected promise the result does not hold (`Promise.reject(1); 2`) is reported too', async () => {
    const { app, c } = await consoleOn();
    expect(await c.command('Promise.reject(1); 2', WAIT_MS, '> ')).toBe('2');
    expect(await c.untilPrompt('> ')).toBe('Uncaught (in promise) 1');
    await hostAlive(app);
  });

  it('a rejection that await already reported is said once, not twice', async () => {
    const { app, c } = await consoleOn();
    expect(await c.command("await Promise.reject(new Error('y'))", WAIT_MS, '> ')).toBe('Uncaught Error: y');
    expect(await c.command('3', WAIT_MS, '> ')).toBe('3');
    await hostAlive(app);
  });

  it('[Promise.reject(1)] through JSON eval answers, and the host lives', async () => {
    const app = await startApp('server-app.cjs', {});
    apps.push(app);
    const j = await openJson(app.port, app.token);
    clients.push(j);
    const r = await j.request('eval', { code: '[Promise.reject(1), Promise.reject(new Error("z"))]' });
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(String(r.result)).toContain('<rejected> 1');
    const later = await j.request('eval', { code: 'setTimeout(() => {}, 1); [new Promise((_, no) => setTimeout(() => no(new Error("late")), 20))]' });
    expect(later.ok).toBe(true);
    // The host's own timers run in order: this answer comes after the late rejection (20 ms).
    const past = await j.request('eval', { code: 'await new Promise((r) => setTimeout(() => r("past"), 50))' });
    expect(past.result).toBe("'past'");
    await hostAlive(app);
  });
});

describe('low: the console and the host’s own `_`', () => {
  it('the host can still assign a global `_` (strict mode too) while a console is open, and keeps it', async () => {
    const { app, c } = await consoleOn();
    expect(await c.command('40 + 2', WAIT_MS, '> ')).toBe('42');
    expect(await c.command('_', WAIT_MS, '> ')).toBe('42');
    const j = await openJson(app.port, app.token);
    clients.push(j);
    const set = await j.request('eval', { code: "(function () { 'use strict'; globalThis._ = 'host value'; return globalThis._; })()" });
    expect(set.ok, JSON.stringify(set)).toBe(true);
    expect(set.result).toBe("'host value'");
    c.send('.exit');
    await c.untilPrompt('asyncmon> ');
    const after = await j.request('eval', { code: 'globalThis._' });
    expect(after.result).toBe("'host value'");
  });
});

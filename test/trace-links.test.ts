// Trace links: tasks carry the OpenTelemetry trace they run in, and `ps --trace <traceId>` finds
// the tasks of the trace a user is looking at in their tracing backend, in the CLI, the text
// REPL and the JSON dialect alike (the agent filters). The fixture uses the real
// @opentelemetry/api with its AsyncLocalStorage context manager; the incoming request's trace
// comes from its W3C traceparent header.
import { afterEach, describe, expect, it } from 'vitest';
import { parseTextCommand } from '../src/commands.js';
import { renderTasks } from '../src/render.js';
import { parseTraceparent, traceFilter, traceMatches, traceparentOf } from '../src/trace.js';
import type { TaskInfo, TaskPage } from '../src/model.js';
import { Cleanups, cliIn, json, ok, show } from './helpers/cli.js';
import { columns, openJson, openText, readDiscovery } from './helpers/wire.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

interface Traces {
  job: string;
  jobSpan: string;
  out: string;
  outSpan: string;
  in: string;
}

async function setup() {
  const dir = cleanups.runtimeDir();
  const app = await cleanups.fixture('trace-app.cjs', { runtimeDir: dir });
  const traces = app.ready.traces as Traces;
  const port = (readDiscovery(dir, app.pid) as { port: number }).port;
  return { app, dir, traces, port, token: app.token as string, cli: cliIn(dir, { env: { COLUMNS: '80' } }) };
}

describe('trace ids (units)', () => {
  it('traceFilter takes a whole trace id or a prefix of 8 or more hex digits, any case, and refuses the rest', () => {
    expect(traceFilter('0AF7651916CD43DD8448EB211C80319C')).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(traceFilter(' 0af76519 ')).toBe('0af76519');
    for (const bad of ['0af7651', 'xyz12345', '0af7651916cd43dd8448eb211c80319c0', '', '0af76519-16cd']) {
      expect(() => traceFilter(bad), bad).toThrow(/bad trace .*32 hex digits.*first 8 or more/);
    }
    expect(traceMatches('0af7651916cd43dd8448eb211c80319c', '0af76519')).toBe(true);
    expect(traceMatches('0af7651916cd43dd8448eb211c80319c', '0af76518')).toBe(false);
    expect(traceMatches(undefined, '0af76519')).toBe(false);
  });

  it('parseTraceparent reads W3C version 00 and later versions, and refuses invalid ids and versions', () => {
    expect(parseTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')).toEqual({ traceId: '0af7651916cd43dd8448eb211c80319c', parentSpanId: 'b7ad6b7169203331' });
    expect(parseTraceparent('01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra')?.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    for (const bad of [
      '00-00000000000000000000000000000000-b7ad6b7169203331-01',
      '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01',
      'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra',
      '00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01',
      'garbage',
      // A header longer than 512 characters is not read at all.
      `01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-${'x'.repeat(460)}`,
      42,
      undefined,
    ]) {
      expect(parseTraceparent(bad), String(bad)).toBeNull();
    }
    expect(traceparentOf(['Host', 'x', 'TRACEPARENT', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'])).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(traceparentOf(['Host', 'x', 'tracestate', 'a=b'])).toBeNull();
    expect(traceparentOf(undefined)).toBeNull();
  });

  it('the text dialect takes --trace by name, alone or with =, beside the positional arguments', () => {
    expect({ ...parseTextCommand('ps --trace 0af76519').args }).toEqual({ trace: '0af76519' });
    expect({ ...parseTextCommand('ps job 5 --trace=0af76519').args }).toEqual({ filter: 'job', limit: 5, trace: '0af76519' });
    expect(() => parseTextCommand('ps --trace')).toThrow(/--trace needs a value: usage: ps \[filter\] \[limit\] \[older\] \[--trace <trace>\]/);
  });

  it('ps --trace says the trace once and gives each span in 80 columns; an empty answer says how a task gets a trace', () => {
    const task = (id: number, spanId?: string): TaskInfo => ({
      id,
      name: `GET /a/very/long/path/that/goes/on/${id}`,
      kind: 'http-client',
      state: 'running',
      ageMs: 61_000,
      parentId: null,
      site: { file: '/srv/app/node_modules/some-library/lib/deeply/nested/client.js', line: 120, column: 7, fn: 'sendRequest' },
      children: 0,
      traceId: '0af7651916cd43dd8448eb211c80319c',
      ...(spanId ? { spanId } : {}),
    });
    const page: TaskPage = { total: 2, items: [task(1, 'b7ad6b7169203331'), task(2)], trace: '0af76519' };
    const text = renderTasks(page, 80);
    const lines = text.split('\n');
    expect(lines[0]).toBe('trace 0af7651916cd43dd8448eb211c80319c: 2 live tasks');
    expect(lines[1]).toMatch(/^\s*ID KIND +AGE NAME +SPAN +\S/);
    expect(lines[2]).toContain('b7ad6b7169203331');
    expect(lines[3]).toMatch(/… - +\S/);
    for (const l of lines) expect(columns(l), l).toBeLessThanOrEqual(80);
    expect(renderTasks({ total: 0, items: [], trace: '0af76519' })).toMatch(/^no live task of trace 0af76519 \(a task has a trace when it starts inside an active OpenTelemetry span, or is an HTTP request with a traceparent header\)$/);
    // Plain ps keeps its columns.
    expect(renderTasks({ total: 1, items: [task(1, 'b7ad6b7169203331')] }, 80)).not.toContain('SPAN');
  });
});

describe('ps --trace against an app', () => {
  it('the CLI finds a task() by the trace of its active span, and an outgoing and an incoming request by theirs (span, traceparent header)', async () => {
    const { cli, traces } = await setup();
    const job = json(ok(await cli('ps', '--trace', traces.job, '--json')));
    expect(job.total).toBe(1);
    expect(job.trace).toBe(traces.job);
    expect(job.items[0]).toMatchObject({ name: 'traced-job', kind: 'task', traceId: traces.job, spanId: traces.jobSpan });

    const out = json(ok(await cli('ps', '--trace', traces.out.toUpperCase(), '--json')));
    const byKind = Object.fromEntries((out.items as TaskInfo[]).map((t) => [t.kind, t]));
    expect(out.total, JSON.stringify(out)).toBe(2);
    expect(byKind['http-client']).toMatchObject({ name: 'GET /hang', traceId: traces.out, spanId: traces.outSpan });
    expect(byKind['http-server']).toMatchObject({ name: 'GET /hang', traceId: traces.out });
    expect(byKind['http-server'].spanId).toBeUndefined();

    // A prefix, as a backend's short id; and the text table stays within 80 columns.
    const text = ok(await cli('ps', '--trace', traces.in.slice(0, 8)));
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`trace ${traces.in}: 1 live task`);
    expect(lines[1]).toMatch(/SPAN/);
    expect(lines[2]).toMatch(/http-server .*GET \/hang-in +-/);
    for (const l of lines) expect(columns(l), l).toBeLessThanOrEqual(80);

    // Plain ps lists all five live tasks, with no trace column.
    const all = ok(await cli('ps'));
    expect(all.stdout).not.toMatch(/SPAN|TRACE/);
    expect(json(ok(await cli('ps', '--json'))).total).toBe(5);
    // No task of another trace.
    const none = ok(await cli('ps', '--trace', 'feedfacefeedface'));
    expect(none.stdout).toMatch(/^no live task of trace feedfacefeedface/);
    // A bad id: usage, one line.
    const bad = await cli('ps', '--trace', 'nothex!!');
    expect(bad.code, show(bad)).toBe(2);
    expect(bad.stderr).toMatch(/^asyncmon: bad trace "nothex!!": the trace id your tracing backend shows \(32 hex digits\), or its first 8 or more\n$/);
  }, 40_000);

  it('where and the JSON and text dialects show and filter the same', async () => {
    const { cli, traces, port, token } = await setup();
    const c = await openJson(port, token);
    cleanups.add(() => c.close());
    const page = (await c.ok('ps', { trace: traces.in })) as TaskPage;
    expect(page.items.map((t) => t.name)).toEqual(['GET /hang-in']);
    const badJson = await c.request('ps', { trace: 'zz' });
    expect(badJson).toMatchObject({ ok: false, error: { code: 'BAD_ARGUMENT' } });

    const where = ok(await cli('where', String(page.items[0].id)));
    expect(where.stdout).toContain(`trace ${traces.in} (from the request's traceparent header)`);
    const job = (await c.ok('ps', { trace: traces.job })) as TaskPage;
    expect(ok(await cli('where', String(job.items[0].id))).stdout).toContain(`trace ${traces.job} span ${traces.jobSpan}`);

    const t = await openText(port, token);
    cleanups.add(() => t.close());
    const reply = await t.command(`ps --trace ${traces.job}`);
    expect(reply).toContain(`trace ${traces.job}: 1 live task`);
    expect(reply).toMatch(/traced-job +00f067aa0ba902b7/);
    expect(reply).not.toContain('untraced-job');
  }, 40_000);
});

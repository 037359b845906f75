/**
 * Issue 12 (low): no control character that came from a host reaches the terminal: task names
 * with escape sequences and raw newlines are shown escaped in the CLI's ps, tree and where,
 * in the text REPL, and in `ls`. Against a fixture app whose task names carry them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Cleanups, cliIn, exitedZero, show } from './helpers/cli.js';
import { openText } from './helpers/wire.js';
import { displayWidth } from '../src/width.js';
import type { WireClient } from './helpers/wire.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

/** No control character but the newlines between lines, and the name shown escaped. */
function clean(out: string): void {
  expect(CONTROLS.test(out), JSON.stringify(out)).toBe(false);
  expect(out).not.toMatch(/^second-line/m);
}

describe('strings from the host are printed without control characters', () => {
  it('ps, tree and where in the CLI; ps and where in the text REPL', async () => {
    const dir = cleanups.runtimeDir();
    const app = await cleanups.fixture('evil-names.cjs', { runtimeDir: dir });
    const cli = cliIn(dir);
    const ps = exitedZero(await cli('ps'));
    clean(ps.stdout);
    expect(ps.stdout, show(ps)).toContain('evil\\x1b]0;pwned\\x07\\x1b[2J\\nse');
    const id = /^\s*(\d+)\s+task\s+\S+\s+.*evil/m.exec(ps.stdout)?.[1];
    expect(id, show(ps)).toBeDefined();
    clean(exitedZero(await cli('tree')).stdout);
    const where = exitedZero(await cli('where', id!));
    clean(where.stdout);
    expect(where.stdout).toContain('evil\\x1b');
    const c: WireClient = await openText(app.port!, app.token!);
    cleanups.add(() => c.close());
    clean(await c.command('ps'));
    clean(await c.command(`where ${id}`));
    clean(await c.command('tree'));
  });

  it('a task named in wide characters keeps ps within 80 terminal columns, its columns aligned', async () => {
    const dir = cleanups.runtimeDir();
    await cleanups.fixture('evil-names.cjs', { runtimeDir: dir });
    const ps = exitedZero(await cli(dir)('ps'));
    const lines = ps.stdout.split('\n').filter((l) => /^\s*(ID|\d+)\s/.test(l));
    const wide = lines.find((l) => l.includes('同步'));
    expect(wide, show(ps)).toBeDefined();
    for (const l of lines) expect(displayWidth(l), l).toBeLessThanOrEqual(80);
    // The KIND column starts at the same terminal column on the wide row as on the header.
    const kindAt = (l: string, word: string) => displayWidth(l.slice(0, l.indexOf(word)));
    expect(kindAt(wide!, 'task')).toBe(kindAt(lines[0], 'KIND'));
  });
});

/** The CLI as at an 80-column terminal (piped, it lays tables out to COLUMNS). */
function cli(dir: string) {
  return cliIn(dir, { env: { COLUMNS: '80' } });
}

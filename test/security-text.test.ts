/**
 * Issue 12 (low): no control character that came from a host reaches the terminal: task names
 * with escape sequences and raw newlines are shown escaped in the CLI's ps, tree and where,
 * in the text REPL, and in `ls`. Against a fixture app whose task names carry them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Cleanups, cliIn, exitedZero, show } from './helpers/cli.js';
import { openText } from './helpers/wire.js';
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
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS, usage } from '../src/commands.js';
import { ENV } from '../src/defaults.js';

// The README must stay true: every command of the table, every environment variable and
// every CLI subcommand it is about is documented, and nothing documented is made up.
const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');

describe('README', () => {
  it('documents every command of the command table with its usage and aliases', () => {
    for (const spec of COMMANDS) {
      expect(readme, `command ${spec.name}`).toContain('`' + usage(spec) + '`');
      for (const alias of spec.aliases) expect(readme, `alias ${alias}`).toContain('`' + alias + '`');
    }
  });

  it('documents every environment variable the agent reads', () => {
    for (const name of Object.values(ENV)) expect(readme).toContain('`' + name + '`');
  });

  it('names no ASYNCMON_ variable that does not exist', () => {
    const named = new Set(readme.match(/ASYNCMON_[A-Z_]+/g) ?? []);
    const known = new Set<string>(Object.values(ENV));
    for (const name of named) expect(known.has(name), name).toBe(true);
  });

  it('shows the two quick-start commands', () => {
    expect(readme).toContain('npm install && npm run demo');
    expect(readme).toContain('npm test');
  });
});

import { scanDiscovery } from '../src/discovery.js';
import { describe } from './client.js';
import { cleanText, cleanValue } from '../src/clean-text.js';
import { formatDuration } from '../src/format.js';
import { renderTable } from '../src/table.js';
import type { DiscoveryRecord } from '../src/discovery.js';

/** `asyncmon ls`: the agents this user can reach; files of dead processes are skipped. */
export function ls(opts: { json?: boolean }): void {
  const { records: agents, refused } = scanDiscovery();
  for (const why of refused) process.stderr.write(`asyncmon: refused ${cleanText(why)}: not this user's, or not private\n`);
  if (opts.json) {
    const safe = agents.map(({ token: _token, ...rest }) => ({ ...rest, uptimeMs: Date.now() - rest.startedAt }));
    process.stdout.write(JSON.stringify(safe, null, 2) + '\n');
    return;
  }
  if (agents.length === 0) {
    process.stdout.write('no agents found (start one: node --require asyncmon/register app.js, or asyncmon attach <pid>)\n');
    return;
  }
  process.stdout.write(
    renderTable<DiscoveryRecord>(
      [
        { header: 'PID', cell: (a) => String(a.pid), right: true },
        { header: 'ADDRESS', cell: (a) => describe(a.socket ? { socket: a.socket } : { host: a.host, port: a.port ?? 0 }) },
        { header: 'UP', cell: (a) => formatDuration(Date.now() - a.startedAt), right: true },
        { header: 'NODE', cell: (a) => a.node },
        { header: 'COMMAND', cell: (a) => a.argv.join(' '), flex: true },
      ],
      agents.map((a) => cleanValue(a)),
    ) + '\n',
  );
}

import { unlinkSync, writeFileSync } from 'node:fs';
import { AsyncmonError } from '../src/errors.js';
import type { AgentClient } from './client.js';
import { EXIT } from './exit-codes.js';
import { connectTo, fail, timeoutMs } from './run.js';
import type { TargetOptions } from './run.js';

/** The versioned dump format: a snapshot plus what only the worker knows. */
export const DUMP_FORMAT = 'asyncmon-dump';
export const DUMP_VERSION = 1;

interface DumpOptions extends TargetOptions {
  out?: string;
  limit?: string;
}

/**
 * `asyncmon dump`: a full snapshot as versioned JSON, to a file or stdout. Lists are capped at
 * `--limit`, except pending promises at `promises` level: all of them are streamed.
 */
export async function dump(opts: DumpOptions): Promise<void> {
  let client: AgentClient | null = null;
  try {
    const limit = Number(opts.limit ?? 10000);
    if (!Number.isInteger(limit) || limit <= 0) throw new AsyncmonError('BAD_ARGUMENT', `bad --limit "${opts.limit}"`);
    ({ client } = await connectTo(opts, 30000));
    const t = timeoutMs(opts, 30000);
    const health = await client.call('health', {}, t);
    const snapshot = (await client.call('snapshot', { limit }, t)) as { tracker?: { level?: string }; promises?: unknown };
    if (snapshot.tracker?.level === 'promises') {
      // Every pending promise, not the first `limit`: streamed in slices, the host's loop
      // running between them.
      const items: unknown[] = [];
      const all = (await client.stream('promises-all', {}, (slice) => items.push(...slice), t)) as { total: number };
      snapshot.promises = { total: all.total, items };
    }
    const stats = await client.call('stats', {}, t);
    const doc = { format: DUMP_FORMAT, version: DUMP_VERSION, createdAt: new Date().toISOString(), health, stats, snapshot };
    const text = JSON.stringify(doc, null, 2) + '\n';
    if (opts.out) {
      // A dump holds the app's state: a new file, 0600, whatever was at that path before.
      try {
        unlinkSync(opts.out);
      } catch {}
      writeFileSync(opts.out, text, { mode: 0o600, flag: 'wx' });
      process.stderr.write(`asyncmon: wrote ${opts.out} (${Buffer.byteLength(text)} bytes)\n`);
    } else process.stdout.write(text);
    process.exitCode = EXIT.ok;
  } catch (err) {
    fail(err, opts.json);
  } finally {
    client?.close();
  }
}

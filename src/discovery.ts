import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsyncmonError } from './errors.js';

/** What a running agent publishes so the CLI can find it: `<dir>/<pid>.json`, mode 0600. */
export interface DiscoveryRecord {
  pid: number;
  host: string;
  port: number | null;
  socket: string | null;
  token: string;
  node: string;
  cwd: string;
  argv: string[];
  startedAt: number;
  version: string;
}

/** `$XDG_RUNTIME_DIR/asyncmon`, else `<tmp>/asyncmon-<uid>`. */
export function discoveryDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg) return join(xdg, 'asyncmon');
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return join(tmpdir(), `asyncmon-${uid}`);
}

/**
 * Makes sure the folder exists as a real directory of ours with mode 0700. Refuses a symlink or
 * a folder owned by another user: someone else could read tokens or plant files there.
 */
export function ensureDiscoveryDir(dir = discoveryDir()): string {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = lstatSync(dir);
  if (st.isSymbolicLink()) throw new AsyncmonError('FORBIDDEN', `discovery folder ${dir} is a symlink; refusing to use it`);
  if (!st.isDirectory()) throw new AsyncmonError('FORBIDDEN', `discovery folder ${dir} is not a directory`);
  const uid = typeof process.getuid === 'function' ? process.getuid() : st.uid;
  if (st.uid !== uid) throw new AsyncmonError('FORBIDDEN', `discovery folder ${dir} belongs to uid ${st.uid}, not ${uid}; refusing to use it`);
  if ((st.mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
  return dir;
}

/** Writes `<pid>.json` with mode 0600, never following a symlink planted at that name. */
export function writeDiscovery(record: DiscoveryRecord, dir = discoveryDir()): string {
  ensureDiscoveryDir(dir);
  const file = join(dir, `${record.pid}.json`);
  try {
    unlinkSync(file);
  } catch {}
  const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    if ((fstatSync(fd).mode & 0o777) !== 0o600) throw new AsyncmonError('FORBIDDEN', `could not make ${file} private`);
    writeSync(fd, JSON.stringify(record) + '\n');
  } finally {
    closeSync(fd);
  }
  return file;
}

/** Removes a discovery file; quiet if it is already gone. */
export function removeDiscovery(file: string): void {
  try {
    unlinkSync(file);
  } catch {}
}

/** Whether a process with this pid exists (one of another user's counts). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The agents this user can see; files of dead processes are removed on the way. */
export function listDiscovery(dir = discoveryDir()): DiscoveryRecord[] {
  let names: string[];
  try {
    const st = lstatSync(dir);
    if (st.isSymbolicLink() || !st.isDirectory()) return [];
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: DiscoveryRecord[] = [];
  for (const name of names) {
    const m = /^(\d+)\.json$/.exec(name);
    if (!m) continue;
    const file = join(dir, name);
    try {
      const st = lstatSync(file);
      if (!st.isFile()) continue;
      const record = JSON.parse(readFileSync(file, 'utf8')) as DiscoveryRecord;
      if (record.pid !== Number(m[1])) continue;
      if (!isAlive(record.pid)) {
        removeDiscovery(file);
        continue;
      }
      out.push(record);
    } catch {}
  }
  return out.sort((a, b) => a.pid - b.pid);
}

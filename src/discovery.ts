import { chmodSync, closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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
  /**
   * When the process started, in clock ticks since boot (`/proc/<pid>/stat`), or null where
   * that is unknown: with the pid it names one process, so a reused pid is not taken for it.
   */
  startTicks?: number | null;
}

function myUid(): number | null {
  return typeof process.getuid === 'function' ? process.getuid() : null;
}

/**
 * Where discovery files live, best first: `$XDG_RUNTIME_DIR/asyncmon` when it is set (and
 * then only there); else `~/.asyncmon/run`, which other users cannot create before us, and
 * last `<tmp>/asyncmon-<uid>`, which they can (the agent then refuses it).
 */
export function discoveryDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg) return [join(xdg, 'asyncmon')];
  const out: string[] = [];
  if (env.HOME && env.HOME.startsWith('/')) out.push(join(env.HOME, '.asyncmon', 'run'));
  out.push(join(tmpdir(), `asyncmon-${myUid() ?? 0}`));
  return out;
}

/** The first of `discoveryDirs`: where a writer tries first. */
export function discoveryDir(env: NodeJS.ProcessEnv = process.env): string {
  return discoveryDirs(env)[0];
}

/**
 * Why a discovery folder or file cannot be trusted, or null when it can: it must be a real
 * folder or file (not a symlink), owned by this user, and private to them (no group or other
 * bits). Writers and readers apply the same rule.
 */
export function untrusted(path: string, st: Stats, kind: 'folder' | 'file'): string | null {
  if (st.isSymbolicLink()) return `${kind} ${path} is a symlink`;
  if (kind === 'folder' ? !st.isDirectory() : !st.isFile()) return `${path} is not a ${kind === 'folder' ? 'directory' : 'regular file'}`;
  const uid = myUid();
  if (uid !== null && st.uid !== uid) return `${kind} ${path} belongs to uid ${st.uid}, not ${uid}`;
  if ((st.mode & 0o077) !== 0) return `${kind} ${path} has mode 0${(st.mode & 0o777).toString(8)}, not 0${kind === 'folder' ? '700' : '600'}`;
  return null;
}

function makePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = lstatSync(dir);
  // A folder of ours with loose bits is tightened; anything else is refused.
  if (!st.isSymbolicLink() && st.isDirectory() && st.uid === (myUid() ?? st.uid) && (st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
  const why = untrusted(dir, lstatSync(dir), 'folder');
  if (why) throw new AsyncmonError('FORBIDDEN', `discovery ${why}; refusing to use it`);
}

/**
 * Makes sure the folder exists as a real directory of ours with mode 0700 (and, for
 * `~/.asyncmon/run`, its parent too). Refuses a symlink or a folder owned by another user:
 * someone else could read tokens or plant files there.
 */
export function ensureDiscoveryDir(dir = discoveryDir()): string {
  if (dir.endsWith('/.asyncmon/run')) makePrivateDir(dirname(dir));
  makePrivateDir(dir);
  return dir;
}

/**
 * Writes `<pid>.json` with mode 0600, never following a symlink planted at that name, in the
 * first of `discoveryDirs` that can be made ours (or in `dir` alone when given).
 */
export function writeDiscovery(record: DiscoveryRecord, dir?: string): string {
  if (dir === undefined) {
    const errors: unknown[] = [];
    for (const candidate of discoveryDirs()) {
      try {
        return writeDiscovery(record, candidate);
      } catch (err) {
        errors.push(err);
      }
    }
    throw errors[errors.length - 1];
  }
  ensureDiscoveryDir(dir);
  const file = join(dir, `${record.pid}.json`);
  // Written under another name (which readers skip) and renamed into place: a reader sees the
  // whole record or none, never half of one.
  const partial = join(dir, `.${record.pid}.json.partial`);
  try {
    unlinkSync(partial);
  } catch {}
  const fd = openSync(partial, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    try {
      if ((fstatSync(fd).mode & 0o777) !== 0o600) throw new AsyncmonError('FORBIDDEN', `could not make ${file} private`);
      writeSync(fd, JSON.stringify(record) + '\n');
    } finally {
      closeSync(fd);
    }
    // rename replaces a symlink planted at the final name; it never follows it.
    renameSync(partial, file);
  } catch (err) {
    try {
      unlinkSync(partial);
    } catch {}
    throw err;
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

/** What a scan of the discovery folders found: the agents, and what it refused and why. */
export interface DiscoveryScan {
  records: DiscoveryRecord[];
  refused: string[];
}

/**
 * The agents this user can see, in `dir` or in every one of `discoveryDirs`. Folders and files
 * are checked as the writer checks them (ours, private, no symlinks): what another user planted
 * is refused and said why, never read. Files of dead processes are removed on the way, and a
 * record whose pid now belongs to a process started later is skipped.
 */
export function scanDiscovery(dir?: string): DiscoveryScan {
  const records = new Map<number, DiscoveryRecord>();
  const refused: string[] = [];
  for (const d of dir === undefined ? discoveryDirs() : [dir]) {
    let names: string[];
    try {
      const why = untrusted(d, lstatSync(d), 'folder');
      if (why) {
        refused.push(why);
        continue;
      }
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const name of names) {
      const m = /^(\d+)\.json$/.exec(name);
      if (!m) continue;
      const file = join(d, name);
      try {
        const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
        let text: string;
        try {
          const why = untrusted(file, fstatSync(fd), 'file');
          if (why) {
            refused.push(why);
            continue;
          }
          text = readFileSync(fd, 'utf8');
        } finally {
          closeSync(fd);
        }
        const record = JSON.parse(text) as DiscoveryRecord;
        if (record.pid !== Number(m[1]) || records.has(record.pid)) continue;
        if (!isAlive(record.pid)) {
          removeDiscovery(file);
          continue;
        }
        const ticks = processStartTicks(record.pid);
        if (typeof record.startTicks === 'number' && ticks !== null && ticks !== record.startTicks) {
          removeDiscovery(file); // the pid was reused: the agent that wrote this is gone
          continue;
        }
        records.set(record.pid, record);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ELOOP') refused.push(`file ${file} is a symlink`);
      }
    }
  }
  return { records: [...records.values()].sort((a, b) => a.pid - b.pid), refused };
}

/** The agents this user can see (see `scanDiscovery`). */
export function listDiscovery(dir?: string): DiscoveryRecord[] {
  return scanDiscovery(dir).records;
}

/**
 * When process `pid` started, in clock ticks since boot (field 22 of `/proc/<pid>/stat`), or
 * null where there is no such file (not Linux, or the process is gone).
 */
export function processStartTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces or parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    return Number.isFinite(ticks) ? ticks : null;
  } catch {
    return null;
  }
}

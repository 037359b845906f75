// Who else could race into the inspector `attach` opens: regular users (uid between the
// system's UID_MIN and UID_MAX, /etc/login.defs) other than the target's owner who have a
// process on this machine, as far as /proc shows (a /proc mounted with hidepid hides them).
import { readFileSync, readdirSync, statSync } from 'node:fs';

/** A regular user, other than the target's owner, with processes here. */
export interface OtherUser {
  uid: number;
  name: string;
  /** How many of their processes /proc shows. */
  processes: number;
}

function loginDefs(): { min: number; max: number } {
  let min = 1000;
  let max = 60000;
  try {
    for (const line of readFileSync('/etc/login.defs', 'utf8').split('\n')) {
      const m = /^\s*(UID_MIN|UID_MAX)\s+(\d+)/.exec(line);
      if (m?.[1] === 'UID_MIN') min = Number(m[2]);
      else if (m?.[1] === 'UID_MAX') max = Number(m[2]);
    }
  } catch {}
  return { min, max };
}

function userNames(): Map<number, string> {
  const names = new Map<number, string>();
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length > 2) names.set(Number(f[2]), f[0]!);
    }
  } catch {}
  return names;
}

/** Regular users other than `ownerUid` who have processes on this machine; [] without /proc. */
export function otherUsersWithProcesses(ownerUid: number | null): OtherUser[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const { min, max } = loginDefs();
  const counts = new Map<number, number>();
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let uid: number;
    try {
      uid = statSync(`/proc/${e}`).uid;
    } catch {
      continue; // ended meanwhile
    }
    if (uid === ownerUid || uid < min || uid > max) continue;
    counts.set(uid, (counts.get(uid) ?? 0) + 1);
  }
  const names = userNames();
  return [...counts].sort((a, b) => a[0] - b[0]).map(([uid, processes]) => ({ uid, name: names.get(uid) ?? `uid ${uid}`, processes }));
}

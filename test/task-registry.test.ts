// The registry's live list: tasks start and end in any order (requests finish out of order), and
// every read (listing, lookup by id, size, cancel) sees exactly the live ones, oldest first.
import { expect, test } from 'vitest';
import { TaskRegistry } from '../agent/host/task-registry.js';
import type { TaskRecord } from '../agent/host/task-registry.js';

const ids = (r: TaskRegistry) => [...r.all()].map((rec) => rec.id);

function startMany(r: TaskRegistry, n: number): TaskRecord[] {
  const out: TaskRecord[] = [];
  for (let i = 0; i < n; i++) {
    const rec = r.start({ kind: 'http-server', method: 'GET', path: `/r/${i}?q=1`, parentId: null });
    if (!rec) throw new Error('registry full');
    out.push(rec);
  }
  return out;
}

test('tasks end in any order: listing, lookup and size follow, oldest first', () => {
  const r = new TaskRegistry(10, 100);
  const [a, b, c, d] = startMany(r, 4);
  expect(ids(r)).toEqual([a.id, b.id, c.id, d.id]);
  expect(r.get(c.id)).toBe(c);
  r.end(b, 'finished'); // the middle
  r.end(a, 'finished'); // the oldest
  expect(ids(r)).toEqual([c.id, d.id]);
  expect(r.get(b.id)).toBeUndefined();
  r.end(d, 'finished'); // the newest
  expect(ids(r)).toEqual([c.id]);
  expect(r.size).toBe(1);
  const [e] = startMany(r, 1);
  expect(ids(r)).toEqual([c.id, e.id]);
  expect(r.get(e.id)).toBe(e);
  r.end(c, 'finished');
  r.end(e, 'finished');
  expect(ids(r)).toEqual([]);
  expect(r.size).toBe(0);
  expect(r.get(e.id)).toBeUndefined();
  // Ending twice changes nothing, and a new task after an empty list is listed alone.
  r.end(e, 'failed');
  const [f] = startMany(r, 1);
  expect(ids(r)).toEqual([f.id]);
  expect(r.size).toBe(1);
});

test('a churn of starts and ends keeps the list and the index exact', () => {
  const r = new TaskRegistry(10, 10_000);
  const live = new Map<number, TaskRecord>();
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let step = 0; step < 5000; step++) {
    if (live.size === 0 || rand(3) !== 0) {
      const [rec] = startMany(r, 1);
      live.set(rec.id, rec);
    } else {
      const victims = [...live.values()];
      const rec = victims[rand(victims.length)];
      r.end(rec, 'finished');
      live.delete(rec.id);
    }
    if (step % 250 === 0) {
      expect(ids(r)).toEqual([...live.keys()]);
      const probe = [...live.keys()][rand(live.size)];
      expect(r.get(probe)?.id).toBe(probe);
    }
    expect(r.size).toBe(live.size);
  }
  expect(ids(r)).toEqual([...live.keys()]);
});

test('ending tasks while walking the listing ends each one, and misses none', () => {
  const r = new TaskRegistry(10, 100);
  startMany(r, 6);
  let seen = 0;
  for (const rec of r.all()) {
    seen++;
    r.cancel(rec.id, 'sweep', 'test');
  }
  expect(seen).toBe(6);
  expect(r.size).toBe(0);
  expect(ids(r)).toEqual([]);
});

test('an ended record holds no other task, and the table refuses past its limit', () => {
  const r = new TaskRegistry(10, 3);
  const [a, b, c] = startMany(r, 3);
  expect(r.start({ kind: 'task', name: 'one too many', parentId: null })).toBeNull();
  expect(r.dropped).toBe(1);
  r.end(b, 'finished');
  // What an ended record may keep alive in async contexts: not its neighbours.
  expect((b as unknown as { prev: unknown; next: unknown }).prev).toBeNull();
  expect((b as unknown as { prev: unknown; next: unknown }).next).toBeNull();
  expect(ids(r)).toEqual([a.id, c.id]);
  expect(r.start({ kind: 'task', name: 'room again', parentId: null })).not.toBeNull();
  expect(() => r.cancel(b.id, 'late', 'test')).toThrow(/no task/);
});

test('ending a record the registry does not hold leaves its list whole', () => {
  const r = new TaskRegistry(10, 100);
  const [a, b] = startMany(r, 2);
  const other = new TaskRegistry(10, 100);
  const [stranger] = startMany(other, 1);
  r.end(stranger, 'finished');
  expect(ids(r)).toEqual([a.id, b.id]);
  expect(r.size).toBe(2);
  r.end(a, 'finished');
  expect(ids(r)).toEqual([b.id]);
});

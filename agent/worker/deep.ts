// Worker room (the agent's own thread): `ps --deep`, the waits the hooks missed, from the heap.
import { parkedFrame } from '../../src/awaits.js';
import type { AwaitChainInfo, AwaitsResult, Site, TaskInfo, TaskPage } from '../../src/model.js';

/**
 * Where a chain is parked, as a site: its deepest suspended function in the user's code (the
 * deepest one of all when every one is a library's), with the library call it was in beside
 * it (when that call is a library's). Null when no frame of it was located. The frame is
 * `parkedFrame`'s, as `where`'s.
 */
export function heapSiteOf(chain: AwaitChainInfo): Site | null {
  const { located, at } = parkedFrame(chain);
  if (at < 0) return null;
  const site: Site = { ...located[at].site! };
  const below = located[at + 1]?.site;
  if (below?.lib) site.via = { fn: below.fn, lib: below.lib };
  return site;
}

/**
 * `ps`'s page with the WAITS ON of every task the hooks left without one filled in from the
 * heap, when a chain of the snapshot works for it (its request, its `task()` signal), marked
 * `waitsFrom: 'heap'` (and `lost` for a request nothing can answer); `heap` says which snapshot.
 */
export function deepTasks(page: TaskPage, a: AwaitsResult, now = Date.now()): TaskPage {
  const byTask = new Map<number, Site>();
  for (const c of a.chains) {
    if (!c.task || byTask.has(c.task.id)) continue;
    const site = heapSiteOf(c);
    if (site) byTask.set(c.task.id, site);
  }
  const lost = new Set(a.lost.flatMap((l) => (l.task ? [l.task.id] : [])));
  const items = page.items.map((t): TaskInfo => {
    if (t.waitsOn) return t;
    if (lost.has(t.id)) return { ...t, waitsOn: null, waitsFrom: 'heap', lost: true };
    const site = byTask.get(t.id);
    // The column is WAITS ON for every row now: one the heap has nothing for says so with null.
    return site ? { ...t, waitsOn: site, waitsFrom: 'heap' } : { ...t, waitsOn: t.waitsOn ?? null };
  });
  return { ...page, items, heap: { pauseMs: a.pauseMs, takenAt: a.takenAt, ageMs: Math.max(0, now - a.takenAt) } };
}

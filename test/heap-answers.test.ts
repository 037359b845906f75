/**
 * One heap snapshot's answer shared by every asker (agent/worker/heap-answers.ts): while one is
 * being taken everybody waits for it, a young one answers everybody, and the longer the host
 * was paused for it the longer it answers, so the pauses stay within their share of the host's
 * time however often a client asks. Real timers and promises.
 */
import { describe, expect, it } from 'vitest';
import { HeapAnswers, sliceAwaits } from '../agent/worker/heap-answers.js';
import type { AwaitsResult } from '../src/model.js';

function result(pauseMs: number, n = 0): AwaitsResult {
  return { takenAt: Date.now(), pauseMs, snapshotBytes: 1, analysisMs: 1, total: n, chains: Array.from({ length: n }, (_, i) => ({ id: i, task: null, request: null, frames: [], waitsFor: { kind: 'nothing' as const }, awaitedBy: [] })), cycles: [], lost: [] };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('HeapAnswers', () => {
  it('shares the snapshot being taken and a young one; takes a new one only when it is old', async () => {
    let taken = 0;
    const answers = new HeapAnswers(async () => {
      taken++;
      await sleep(20);
      return result(1);
    }, { reuseMs: 150, share: 0.05 });
    const [a, b, c] = await Promise.all([answers.get(), answers.get(), answers.get()]);
    expect(taken).toBe(1);
    expect(b).toBe(a);
    expect(c).toBe(a);
    // A client asking in a loop within the reuse time gets the same answer.
    for (let i = 0; i < 20; i++) expect(await answers.get()).toBe(a);
    expect(taken).toBe(1);
    await sleep(200);
    // Past its time the answer is let go (it may be megabytes), and the next ask takes a new one.
    expect(answers.holds).toBe(false);
    const d = await answers.get();
    expect(taken).toBe(2);
    expect(d).not.toBe(a);
  });

  it('reuses an answer longer after a longer pause: pauses stay within their share of the time', async () => {
    const answers = new HeapAnswers(async () => result(30), { reuseMs: 10, share: 0.1 });
    expect(answers.reuseFor(30)).toBe(300);
    expect(answers.reuseFor(0)).toBe(10);
    const a = await answers.get();
    await sleep(100);
    // Past reuseMs, but the 30 ms pause buys 300 ms of quiet.
    expect(await answers.get()).toBe(a);
  });

  it('keeps no failure: the next ask tries again', async () => {
    let n = 0;
    const answers = new HeapAnswers(async () => {
      if (++n === 1) throw new Error('a heap snapshot is already being taken');
      return result(1);
    }, { reuseMs: 1000, share: 0.05 });
    await expect(answers.get()).rejects.toThrow(/already being taken/);
    expect((await answers.get()).pauseMs).toBe(1);
    expect(n).toBe(2);
  });

  it('slices an answer to what was asked, keeping the total', () => {
    const r = result(1, 5);
    expect(sliceAwaits(r, 2)).toMatchObject({ total: 5, chains: [{ id: 0 }, { id: 1 }] });
    expect(sliceAwaits(r, 10)).toBe(r);
  });
});

// Worker room (the agent's own thread): short-lived answers shared by identical requests.

interface Entry {
  /** When the answer came (Infinity while it is being computed: every asker shares it). */
  at: number;
  value: Promise<unknown>;
}

/**
 * Identical requests (same command, same arguments) within `ttlMs` of an answer get that same
 * answer, and requests made while one is being computed wait for it: sixteen dashboards asking
 * for a snapshot cost the main thread one snapshot per `ttlMs`. Failures are not kept. At most
 * `maxEntries` keys; the oldest goes first.
 */
export class AnswerCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 8,
  ) {}

  /** Forgets every answer: something may have changed what they say (a track, a cancel). */
  clear(): void {
    this.entries.clear();
  }

  /** The answer for `key`, from the cache or from `compute()`. */
  get(key: string, compute: () => Promise<unknown>): Promise<unknown> {
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && now - hit.at < this.ttlMs) return hit.value;
    // Expired answers go at once: a snapshot of 10k entries per list is megabytes, and the
    // worker's heap is small.
    for (const [k, e] of this.entries) if (now - e.at >= this.ttlMs) this.entries.delete(k);
    const entry: Entry = { at: Infinity, value: compute() };
    entry.value.then(
      () => (entry.at = Date.now()),
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    this.entries.set(key, entry);
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return entry.value;
  }
}

// Worker room (the agent's own thread): `watch`, updates streamed to JSON clients.
import type { Args } from '../../src/commands.js';
import { AsyncmonError } from '../../src/errors.js';
import type { BlockedEpisode, HealthResult, Snapshot } from '../../src/model.js';
import type { UpdateEvent } from '../../src/protocol.js';
import type { Session } from './session.js';

interface WatchState {
  interval: number;
  paused: boolean;
  seq: number;
  dropped: number;
  last: Map<string, string>;
  inFlight: boolean;
}

const MIN_INTERVAL = 100;
const MAX_INTERVAL = 60_000;

/**
 * `watch`: pushes `{"event":"update",…}` to a JSON client every `interval` ms with the parts of
 * the snapshot that changed since the last update. A client that falls behind has updates
 * dropped (and counted), never buffered; while the loop is blocked only `health` changes.
 */
export class Watcher {
  private readonly states = new Map<Session, WatchState>();

  constructor(
    private readonly maxOutputBytes: number,
    private readonly snapshot: (args: Args) => Promise<unknown>,
    private readonly health: () => HealthResult,
    private readonly blocked: () => BlockedEpisode[],
  ) {}

  command(session: Session, args: Args): { watching: boolean; paused: boolean; interval: number } {
    const action = typeof args.action === 'string' ? args.action : 'start';
    let state = this.states.get(session);
    switch (action) {
      case 'start': {
        const interval = Math.min(MAX_INTERVAL, Math.max(MIN_INTERVAL, typeof args.interval === 'number' ? args.interval : 1000));
        if (!state) {
          state = { interval, paused: false, seq: 0, dropped: 0, last: new Map(), inFlight: false };
          this.states.set(session, state);
        }
        state.interval = interval;
        state.paused = false;
        this.schedule(session, state);
        void this.tick(session, state);
        break;
      }
      case 'pause':
      case 'resume':
        if (!state) throw new AsyncmonError('BAD_ARGUMENT', 'not watching: start with {"cmd":"watch","args":{"interval":1000}}');
        state.paused = action === 'pause';
        if (!state.paused) state.last.clear();
        break;
      case 'stop':
        this.forget(session);
        return { watching: false, paused: false, interval: 0 };
      default:
        throw new AsyncmonError('BAD_ARGUMENT', `unknown watch action "${action}": start, pause, resume or stop`);
    }
    return { watching: true, paused: state.paused, interval: state.interval };
  }

  forget(session: Session): void {
    if (session.watchTimer) clearInterval(session.watchTimer);
    session.watchTimer = null;
    this.states.delete(session);
  }

  private schedule(session: Session, state: WatchState): void {
    if (session.watchTimer) clearInterval(session.watchTimer);
    session.watchTimer = setInterval(() => void this.tick(session, state), state.interval);
  }

  private async tick(session: Session, state: WatchState): Promise<void> {
    if (state.paused || state.inFlight || session.closedFlag) return;
    if (session.socket.writableLength > this.maxOutputBytes / 4) {
      state.dropped++;
      return;
    }
    state.inFlight = true;
    const changes: Record<string, unknown> = {};
    const consider = (key: string, value: unknown) => {
      const text = JSON.stringify(value);
      if (state.last.get(key) !== text) {
        state.last.set(key, text);
        changes[key] = value;
      }
    };
    try {
      const health = this.health();
      consider('health', { status: health.status, blockedMs: health.blockedMs, stack: health.stack, ...(health.task ? { task: health.task } : {}) });
      consider('blocked', this.blocked());
      if (health.status === 'ok') {
        const snap = (await this.snapshot({ limit: 200 })) as Snapshot;
        for (const [key, value] of Object.entries(snap)) consider(key, value);
      }
    } catch {
      // The main thread went busy between the check and the call: health alone goes out.
    } finally {
      state.inFlight = false;
    }
    if (session.closedFlag || !this.states.has(session)) return;
    const event: UpdateEvent = { event: 'update', seq: ++state.seq, now: Date.now(), changes, dropped: state.dropped };
    session.write(JSON.stringify(event) + '\n');
  }
}

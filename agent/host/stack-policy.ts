// Host room (the app's main thread): which records get a creation stack.
import type { StacksMode } from '../../src/model.js';
import type { TaskRef } from './task-context.js';

/**
 * Decides, per tracked record, whether to capture a creation stack (a few µs each, the costliest
 * thing the trackers do). `tasks`: records made inside any task (HTTP requests included), so
 * `where` can name the await of every task and nothing else pays. N: records inside a named
 * `task()` always, everything else one in N. `on`: all.
 */
export class StackPolicy {
  mode: StacksMode = 'off';
  private counter = 0;

  set(mode: StacksMode): void {
    this.mode = mode;
    this.counter = 0;
  }

  shouldCapture(task: TaskRef | undefined): boolean {
    const mode = this.mode;
    if (mode === 'off') return false;
    if (mode === 'tasks') return task !== undefined;
    if (mode === 'on' || (task !== undefined && task.kind === 'task')) return true;
    if (++this.counter >= mode) {
      this.counter = 0;
      return true;
    }
    return false;
  }
}

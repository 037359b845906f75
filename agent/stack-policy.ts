import type { StacksMode } from '../src/model.js';

/**
 * Decides, per tracked record, whether to capture a creation stack. Records made inside a named
 * `task()` always get one unless stacks are off (they are what `where` shows); all others,
 * HTTP request tasks included (they are the bulk of a server's promises), follow the mode:
 * `on` all, N one in N.
 */
export class StackPolicy {
  mode: StacksMode = 'off';
  private counter = 0;

  set(mode: StacksMode): void {
    this.mode = mode;
    this.counter = 0;
  }

  shouldCapture(inNamedTask: boolean): boolean {
    const mode = this.mode;
    if (mode === 'off') return false;
    if (mode === 'on' || inNamedTask) return true;
    if (++this.counter >= mode) {
      this.counter = 0;
      return true;
    }
    return false;
  }
}

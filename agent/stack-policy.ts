import type { StacksMode } from '../src/model.js';

/**
 * Decides, per tracked record, whether to capture a creation stack. Records made inside a task
 * always get one unless stacks are off (they are what `where` shows); others follow the mode:
 * `on` all, N one in N.
 */
export class StackPolicy {
  mode: StacksMode = 'off';
  private counter = 0;

  set(mode: StacksMode): void {
    this.mode = mode;
    this.counter = 0;
  }

  shouldCapture(inTask: boolean): boolean {
    const mode = this.mode;
    if (mode === 'off') return false;
    if (mode === 'on' || inTask) return true;
    if (++this.counter >= mode) {
      this.counter = 0;
      return true;
    }
    return false;
  }
}

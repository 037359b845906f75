/** Monotonic milliseconds on a timeline common to every thread of the process (both rooms use it). */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

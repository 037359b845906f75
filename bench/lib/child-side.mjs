// The child half of the IPC protocol in lib/procs.mjs: answers `{id, cmd, args}` with
// `{id, result}` or `{id, error}`, exits when the parent goes away, and never lives forever.
const MAX_LIFETIME_MS = 15 * 60_000;

/** Serves `handlers[cmd](args)` (sync or async) over the IPC channel until the parent leaves. */
export function serve(handlers) {
  if (!process.send) {
    process.stderr.write('this is a benchmark child: run it through bench/run.mjs\n');
    process.exit(2);
  }
  process.on('disconnect', () => process.exit(0));
  setTimeout(() => process.exit(3), MAX_LIFETIME_MS).unref();
  process.on('message', async (msg) => {
    const { id, cmd, args } = msg ?? {};
    try {
      const fn = handlers[cmd];
      if (!fn) throw new Error(`unknown command ${cmd}`);
      const result = await fn(args ?? {});
      process.send({ id, result });
    } catch (err) {
      process.send({ id, error: err && err.stack ? err.stack : String(err) });
    }
  });
}

/** Runs the garbage collector to a fixed point (needs --expose-gc). */
export function fullGc() {
  if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');
  for (let i = 0; i < 4; i++) globalThis.gc();
}

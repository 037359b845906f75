// Child processes for the benchmark: every benchmark body runs in a child (so the orchestrator's
// own work never competes with it), optionally pinned to one core with taskset. Every child is
// tracked here and killed when the orchestrator exits, fails or is interrupted; each child also
// exits on its own when its IPC channel to us closes, and after a hard lifetime.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
export const ROOT = dirname(BENCH_DIR);
export const REGISTER = resolve(ROOT, 'dist', 'agent', 'register.js');
export const AGENT_JS = resolve(ROOT, 'dist', 'agent', 'host', 'agent.js');
export const CHILDREN = resolve(BENCH_DIR, 'children');

/** The Node binary the children run under: BENCH_NODE, or the one running us. */
export const NODE = process.env.BENCH_NODE || process.execPath;

const live = new Set();

/**
 * A private XDG_RUNTIME_DIR for the children, so the agents they start publish their discovery
 * files there: never seen by (or confused with) other asyncmon processes of this user, and
 * removed when we exit even if a child was killed before it could clean up.
 */
let runtimeDir = null;
function privateRuntimeDir() {
  if (!runtimeDir) {
    removeStaleRuntimeDirs();
    runtimeDir = mkdtempSync(join(tmpdir(), `asyncmon-bench-${process.pid}-`));
  }
  return runtimeDir;
}

/** Folders left by an orchestrator that was SIGKILLed (its pid is gone) are removed. */
function removeStaleRuntimeDirs() {
  try {
    for (const name of readdirSync(tmpdir())) {
      const m = /^asyncmon-bench-(\d+)-/.exec(name);
      if (!m || Number(m[1]) === process.pid) continue;
      try {
        process.kill(Number(m[1]), 0);
      } catch (err) {
        if (err.code === 'ESRCH') rmSync(join(tmpdir(), name), { recursive: true, force: true });
      }
    }
  } catch {}
}

/** Kills every child still alive (SIGKILL: a benchmark child has nothing to flush). */
export function killAll() {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {}
  }
  live.clear();
  if (runtimeDir) {
    try {
      rmSync(runtimeDir, { recursive: true, force: true });
    } catch {}
    runtimeDir = null;
  }
}

let guarded = false;
/** Makes sure no child outlives the orchestrator, however it ends. */
export function installExitGuards() {
  if (guarded) return;
  guarded = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      killAll();
      process.stderr.write(`bench: ${sig}, children killed\n`);
      process.exit(130);
    });
  }
  const fail = (err) => {
    killAll();
    process.stderr.write(`bench: failed: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
}

let tasksetOk = null;
/** Whether `taskset` can pin processes here (Linux, util-linux installed, ≥ 2 cores). */
export function canPin() {
  if (tasksetOk === null) {
    tasksetOk = false;
    if (process.platform === 'linux' && availableParallelism() >= 2) {
      try {
        execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore', timeout: 5000 });
        tasksetOk = true;
      } catch {}
    }
  }
  return tasksetOk;
}

/**
 * The environment for a child: ours without anything that could load or configure an agent by
 * itself; agents listen on an ephemeral loopback port and publish into our private folder.
 */
export function childEnv(extra) {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  for (const key of Object.keys(env)) if (key.startsWith('ASYNCMON')) delete env[key];
  return { ...env, ASYNCMON_PORT: '0', XDG_RUNTIME_DIR: privateRuntimeDir(), BENCH_AGENT_JS: AGENT_JS, ...extra };
}

/**
 * Starts `node [nodeArgs] [--require register.js] children/<script> ` with an IPC channel.
 * `agent` is null for no agent, or { track, stacks } for the preload's environment.
 * `cpu` pins the child (and all its threads) to one core when taskset is usable.
 */
export function startChild(script, { agent = null, nodeArgs = [], cpu = null, env = {}, args = [] } = {}) {
  const argv = [...nodeArgs];
  const agentEnv = {};
  if (agent) {
    if (!existsSync(REGISTER)) throw new Error(`${REGISTER} is missing: run npm run build first`);
    argv.push('--require', REGISTER);
    agentEnv.ASYNCMON_TRACK = agent.track;
    if (agent.stacks !== undefined) agentEnv.ASYNCMON_STACKS = String(agent.stacks);
  }
  argv.push(resolve(CHILDREN, script), ...args);
  let cmd = NODE;
  if (cpu !== null && canPin()) {
    argv.unshift('-c', String(cpu), NODE);
    cmd = 'taskset';
  }
  const proc = spawn(cmd, argv, {
    cwd: ROOT,
    env: childEnv({ ...agentEnv, ...env }),
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  live.add(proc);
  let stderr = '';
  proc.stderr.on('data', (d) => {
    stderr += d.toString();
    if (stderr.length > 20000) stderr = stderr.slice(-20000);
  });
  // Settles when the process is gone, or could not be started at all (bad BENCH_NODE).
  const exited = new Promise((res) => {
    proc.on('exit', (code, signal) => {
      live.delete(proc);
      res(code ?? signal);
    });
    proc.on('error', (err) => {
      live.delete(proc);
      res(`not started: ${err.message}`);
    });
  });

  let nextId = 1;
  const pending = new Map();
  proc.on('message', (msg) => {
    const waiter = pending.get(msg && msg.id);
    if (!waiter) return;
    pending.delete(msg.id);
    if (msg.error) waiter.reject(new Error(`${script}: ${msg.error}`));
    else waiter.resolve(msg.result);
  });
  exited.then((code) => {
    for (const w of pending.values()) w.reject(new Error(`${script} exited (${code}) ${stderr.trim()}`));
    pending.clear();
  });

  return {
    proc,
    stderr: () => stderr,
    exited,
    /** Sends a command and waits for its answer, at most `timeoutMs`. */
    request(cmd, args = {}, timeoutMs = 60_000) {
      return new Promise((res, rej) => {
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          rej(new Error(`${script}: no answer to ${cmd} within ${timeoutMs} ms ${stderr.trim()}`));
        }, timeoutMs);
        pending.set(id, {
          resolve: (v) => (clearTimeout(timer), res(v)),
          reject: (e) => (clearTimeout(timer), rej(e)),
        });
        try {
          proc.send({ id, cmd, args });
        } catch (err) {
          pending.delete(id);
          clearTimeout(timer);
          rej(err);
        }
      });
    },
    kill() {
      try {
        proc.kill('SIGKILL');
      } catch {}
      return exited;
    },
  };
}

/** Runs a one-shot child: one `run` request with `runArgs`, then the child is killed. */
export async function runOnce(script, opts = {}, timeoutMs = 60_000) {
  const child = startChild(script, opts);
  try {
    return await child.request('run', opts.runArgs ?? {}, timeoutMs);
  } finally {
    await child.kill();
  }
}

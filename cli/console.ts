import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { AsyncmonError } from '../src/errors.js';
import { EXIT } from './exit-codes.js';
import { fail } from './run.js';
import type { TargetOptions } from './run.js';
import { resolveTarget } from './target.js';

/**
 * `asyncmon console`: the agent's text REPL with line editing and history (readline),
 * authenticated for you. Lines go to the agent as typed; its output is printed as it comes.
 */
export async function consoleSession(opts: TargetOptions): Promise<void> {
  try {
    const target = resolveTarget(opts.target, opts.token);
    const socket = 'socket' in target.address ? connect(target.address.socket) : connect(target.address.port, target.address.host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (err: NodeJS.ErrnoException) => reject(new AsyncmonError('UNAVAILABLE', `cannot connect: ${err.code ?? err.message}`)));
    });
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY, historySize: 500, prompt: '' });
    // The agent prints the prompt; readline only edits the line.
    socket.write(`auth ${target.token}\n`);
    socket.on('data', (chunk: Buffer) => process.stdout.write(chunk.toString('utf8').replace(/^✓ authenticated\n/m, '')));
    rl.on('line', (line) => socket.write(line + '\n'));
    rl.on('close', () => socket.end());
    await new Promise<void>((resolve) => {
      socket.on('close', () => {
        rl.close();
        resolve();
      });
      socket.on('error', (err) => {
        process.stderr.write(`asyncmon: ${err.message}\n`);
      });
    });
    process.exitCode = EXIT.ok;
  } catch (err) {
    fail(err, opts.json);
  }
}

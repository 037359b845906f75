import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { agentProof, clientProof, newNonce, sameProof } from '../src/auth-proof.js';
import { cleanText } from '../src/clean-text.js';
import { AsyncmonError } from '../src/errors.js';
import { describe, noToken } from './client.js';
import type { Address } from './client.js';
import { EXIT } from './exit-codes.js';
import { peerProblem } from './peer-check.js';
import { expectedPeer, fail, timeoutMs } from './run.js';
import type { TargetOptions } from './run.js';
import { resolveTarget, tokenOf } from './target.js';

/**
 * Waits until the text the agent has sent matches `re` (or it says ✗), within `ms`; answers
 * may follow a prompt on the same line. Returns
 * the match and leaves what followed it in `state.text`.
 */
function expectText(socket: Socket, state: { text: string }, re: RegExp, ms: number, what: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, m?: RegExpExecArray) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve(m!);
    };
    const check = () => {
      const m = re.exec(state.text);
      if (m) {
        state.text = state.text.slice(m.index + m[0].length);
        return done(null, m);
      }
      const refused = /(?:^|asyncmon> )✗ (.*)$/m.exec(state.text);
      if (refused) done(new AsyncmonError(/authentication/.test(refused[1]) ? 'FORBIDDEN' : 'UNAVAILABLE', refused[1]));
    };
    const onData = (chunk: Buffer) => {
      state.text += chunk.toString('utf8');
      if (state.text.length > 64 * 1024) return done(new AsyncmonError('UNAVAILABLE', `no ${what} from the agent`));
      check();
    };
    const onClose = () => done(new AsyncmonError('UNAVAILABLE', `the agent closed the connection before ${what}${state.text.trim() ? `: ${state.text.trim().split('\n').pop()}` : ''}`));
    const timer = setTimeout(() => done(new AsyncmonError('UNAVAILABLE', `no ${what} from the agent within ${ms} ms`)), ms);
    socket.on('data', onData);
    socket.on('close', onClose);
    check();
  });
}

/** Challenge and response in the text dialect: the token never crosses the socket. */
async function login(socket: Socket, address: Address, token: string, nonce: string, ms: number): Promise<string> {
  const state = { text: '' };
  const banner = await expectText(socket, state, /^(asyncmon: pid .*)\n/m, ms, 'banner');
  const challenge = (await expectText(socket, state, /(?:^|asyncmon> )challenge ([0-9a-f]{16,64})\n/m, ms, 'challenge'))[1];
  socket.write(`auth proof:${clientProof(token, challenge, nonce)}\n`);
  const proof = (await expectText(socket, state, /(?:^|asyncmon> )✓ authenticated; agent proof ([0-9a-f]+)\n/m, ms, 'login'))[1];
  if (!sameProof(proof, agentProof(token, nonce, challenge))) {
    throw new AsyncmonError('UNAVAILABLE', `${describe(address)} accepted the login without proving it knows the token: it is not the agent; nothing more was sent`);
  }
  return `${banner[1]}\n${state.text.replace(/^asyncmon> /, '')}`;
}

/**
 * `asyncmon console`: the agent's text REPL with line editing and history (readline),
 * authenticated for you. Lines go to the agent as typed; its output is printed as it comes.
 */
export async function consoleSession(opts: TargetOptions): Promise<void> {
  try {
    const target = resolveTarget(opts.target, tokenOf(opts));
    const ms = timeoutMs(opts);
    const socket = 'socket' in target.address ? connect(target.address.socket) : connect(target.address.port, target.address.host);
    // Nothing secret, written at once: the agent sees a client that speaks (see AgentClient.connect).
    const nonce = newNonce();
    socket.write(`challenge ${nonce}\n`);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (err: NodeJS.ErrnoException) => reject(new AsyncmonError('UNAVAILABLE', `cannot connect to ${describe(target.address)}: ${err.code ?? err.message}`)));
    });
    socket.on('error', (err) => process.stderr.write(`asyncmon: ${err.message}\n`));
    let greeting: string;
    try {
      const expect = expectedPeer(target);
      const problem = expect ? peerProblem(socket, target.address, expect) : null;
      if (problem) throw new AsyncmonError('UNAVAILABLE', `${problem}; not logging in to ${describe(target.address)}`);
      if (!target.token) throw noToken(target.address);
      greeting = await login(socket, target.address, target.token, nonce, ms);
    } catch (err) {
      socket.destroy();
      throw err;
    }
    // The agent prints the prompt; readline only edits the line.
    process.stdout.write(cleanText(greeting, true));
    // The agent sends its prompt after each answer; readline is given it, so that it redraws
    // the prompt when it rewrites the line (↑ for history, Tab), instead of erasing it.
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY, historySize: 500, prompt: 'asyncmon> ' });
    // Input can end first (a pipe, or no input at all): then the agent's output is just printed.
    let inputEnded = false;
    rl.on('close', () => (inputEnded = true));
    const prompt = (text: string) => {
      if (inputEnded) return void process.stdout.write(text);
      rl.setPrompt(text);
      rl.prompt(true);
    };
    prompt('asyncmon> ');
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      // What the agent sends is shown without control characters (its own output has none).
      const text = cleanText(chunk, true);
      const last = /(?:^|\n)(asyncmon> |> |\.\.\. )$/.exec(text);
      if (!last) return void process.stdout.write(text);
      process.stdout.write(text.slice(0, text.length - last[1].length));
      prompt(last[1]);
    });
    rl.on('line', (line) => socket.write(line + '\n'));
    rl.on('close', () => socket.end());
    await new Promise<void>((resolve) => {
      socket.on('close', () => {
        rl.close();
        resolve();
      });
    });
    process.exitCode = EXIT.ok;
  } catch (err) {
    fail(err, opts.json);
  }
}

#!/usr/bin/env node
/**
 * The `asyncmon` command. A thin shell over the client library; heavy parts load lazily so
 * one-shot commands start fast.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

const program = new Command('asyncmon')
  .description('A live async debugging monitor for Node.js: what a running process waits on, and why it will not exit.')
  .version(version(), '-V, --version');

program.parse(process.argv);

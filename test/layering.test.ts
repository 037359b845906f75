/**
 * The layering of DESIGN.md, checked on the source tree: src/ is the pure core (nothing from
 * agent/ or cli/, no async_hooks, net, commander or blessed); agent/ and cli/ never import each
 * other (cli/ reaches the agent only over the socket); blessed is imported only under cli/tui/.
 * Inside agent/ the rooms follow the threads: host/ (the app's main thread) and worker/ (the
 * agent's worker) never import each other and meet only through agent/messages.ts; the top
 * holds only the entry points and the messages. No file takes part in an import cycle.
 * Imports are read with the TypeScript parser, so every form counts: `import`, `import type`,
 * `export … from`, `import x = require()`, `require()`, `import()` and `import('x').T` types.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Dirent } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/child.js';

/** One module reference in a file, with the 1-based line of its specifier. */
interface ImportRef {
  specifier: string;
  line: number;
}

/** A broken layering rule: where, what, and which rule. */
interface Violation {
  file: string;
  line: number;
  specifier: string;
  rule: string;
}

const ROOMS = ['src', 'agent', 'cli'] as const;
type Room = (typeof ROOMS)[number];
const SOURCE_EXT = /\.(?:[cm]?ts|tsx|[cm]?js)$/;
/** Modules the pure core must not touch (with or without `node:`). */
const CORE_FORBIDDEN = new Set(['async_hooks', 'net', 'commander', 'blessed']);
/** The package's own name: importing it from inside reaches the agent (its exports are agent/). */
const SELF = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string }).name;
/** agent/'s thread rooms: each runs on one thread, and neither imports the other. */
const THREAD_ROOMS = { 'agent/host/': "the app's main thread", 'agent/worker/': "the agent's worker thread" } as const;
type ThreadRoom = keyof typeof THREAD_ROOMS;
/** What may sit at the top of agent/: the entry points, and the messages both threads share. */
const AGENT_TOP = new Set(['agent/index.ts', 'agent/index.mts', 'agent/register.ts', 'agent/messages.ts']);
const MESSAGES = 'agent/messages';

/** Every module reference in `source`, found by the TypeScript parser. */
function findImports(source: string, fileName = 'file.ts'): ImportRef[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true);
  const out: ImportRef[] = [];
  const add = (node: ts.Node | undefined) => {
    if (node && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node))) {
      out.push({ specifier: node.text, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1 });
    }
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) add(node.moduleReference.expression);
    else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === 'require')) add(node.arguments[0]);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/**
 * Where a specifier leads: a room of this repository and the path there without its extension
 * (`agent/host/task`), or a package (builtins without `node:`).
 */
function destination(file: string, specifier: string): { room: Room | null; path: string | null; module: string | null } {
  if (specifier.startsWith('.') || specifier.startsWith('/')) {
    const target = posix.normalize(posix.join(posix.dirname(file), specifier));
    const top = target.split('/')[0];
    const room = (ROOMS as readonly string[]).includes(top) ? (top as Room) : null;
    return { room, path: room ? target.replace(SOURCE_EXT, '') : null, module: null };
  }
  const bare = specifier.replace(/^node:/, '');
  const parts = bare.split('/');
  const module = bare.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  // `asyncmon` and `asyncmon/register` are the agent's entry points.
  if (module === SELF) return { room: 'agent', path: `agent/${parts[1] ?? 'index'}`, module };
  return { room: null, path: null, module };
}

/** The thread room a repository path (file or extensionless) lies in, if any. */
function threadRoom(path: string): ThreadRoom | null {
  for (const room of Object.keys(THREAD_ROOMS) as ThreadRoom[]) if (path.startsWith(room)) return room;
  return null;
}

/** The layering rules applied to one file (`file` is repository-relative, with `/`). */
function checkFile(file: string, source: string): Violation[] {
  const room = file.split('/')[0];
  const out: Violation[] = [];
  for (const ref of findImports(source, file)) {
    const to = destination(file, ref.specifier);
    const broken = (rule: string) => out.push({ file, line: ref.line, specifier: ref.specifier, rule });
    if (room === 'src' && (to.room === 'agent' || to.room === 'cli')) broken(`src/ is the pure core and imports nothing from ${to.room}/`);
    if (room === 'src' && to.module && CORE_FORBIDDEN.has(to.module)) broken(`src/ is the pure core and does not import ${to.module}`);
    if (room === 'agent' && to.room === 'cli') broken('agent/ never imports from cli/');
    if (room === 'cli' && to.room === 'agent') broken('cli/ never imports from agent/: it reaches the agent over the socket');
    if (to.module === 'blessed' && !file.startsWith('cli/tui/')) broken('blessed is imported only under cli/tui/');
    if (to.room === 'agent' && to.path) {
      const from = threadRoom(file);
      const into = threadRoom(to.path);
      if (from && into && from !== into) broken(`${from} runs on ${THREAD_ROOMS[from]} and never imports ${into}: the threads meet only through ${MESSAGES}.ts`);
      else if (into === 'agent/worker/' && !from) broken('agent/worker/ runs as its own thread: it is started by path, never imported from outside it');
      if (from && !into && to.path !== MESSAGES) broken(`${from} imports nothing from the top of agent/ but ${MESSAGES}.ts`);
      if (file.replace(SOURCE_EXT, '') === MESSAGES && into) broken(`${MESSAGES}.ts is shared by both threads and imports neither room`);
    }
  }
  return out;
}

/** Files of agent/ that sit at its top but are neither an entry point nor the messages. */
function misplaced(files: string[]): string[] {
  return files.filter((f) => f.startsWith('agent/') && !threadRoom(f) && !AGENT_TOP.has(f));
}

/**
 * Every import cycle among `sources` (repository-relative file → text), type-only imports
 * included, each as `a -> b -> a` from where the search (in sorted order) entered it. A plain
 * depth-first search with grey/black marks: a grey target closes a cycle.
 */
function importCycles(sources: Map<string, string>): string[] {
  const files = [...sources.keys()].sort();
  const byPath = new Map(files.map((f) => [f.replace(SOURCE_EXT, ''), f]));
  const edges = new Map<string, string[]>();
  for (const f of files) {
    const targets = new Set<string>();
    for (const ref of findImports(sources.get(f) ?? '', f)) {
      const to = destination(f, ref.specifier);
      const target = to.path && !to.module ? byPath.get(to.path) : undefined;
      if (target) targets.add(target);
    }
    edges.set(f, [...targets].sort());
  }
  const mark = new Map<string, 'grey' | 'black'>();
  const path: string[] = [];
  const cycles: string[] = [];
  const visit = (f: string): void => {
    mark.set(f, 'grey');
    path.push(f);
    for (const to of edges.get(f) ?? []) {
      if (mark.get(to) === 'grey') cycles.push([...path.slice(path.indexOf(to)), to].join(' -> '));
      else if (!mark.has(to)) visit(to);
    }
    path.pop();
    mark.set(f, 'black');
  };
  for (const f of files) if (!mark.has(f)) visit(f);
  return cycles;
}

/** Everything wrong with a tree of sources: broken rules, misplaced files and import cycles. */
function checkTree(sources: Map<string, string>): string[] {
  const files = [...sources.keys()].sort();
  return [
    ...files.flatMap((f) => checkFile(f, sources.get(f) ?? '')).map(format),
    ...misplaced(files).map((f) => `${f}: agent/ keeps only its entry points and messages.ts at the top; code goes in agent/host/ or agent/worker/`),
    ...importCycles(sources).map((c) => `import cycle: ${c}`),
  ];
}

function format(v: Violation): string {
  return `${v.file}:${v.line}: imports '${v.specifier}': ${v.rule}`;
}

/** Source files under the rooms, repository-relative with `/`. */
function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory() && e.name !== 'node_modules') walk(path);
      else if (e.isFile() && SOURCE_EXT.test(e.name)) out.push(relative(ROOT, path).split(sep).join('/'));
    }
  };
  for (const room of ROOMS) walk(join(ROOT, room));
  return out.sort();
}

describe('the import scanner', () => {
  it('finds every form of import, with the line of its specifier', () => {
    const source = [
      "import { a } from './one.js';", // 1
      "import type { B } from '../agent/two.js';", // 2
      "import './three.js';", // 3
      'import {', // 4
      '  c,', // 5
      "} from 'node:net';", // 6
      "export { d } from './four.js';", // 7
      "export * from './five.js';", // 8
      "import six = require('six');", // 9
      "const seven = require('seven');", // 10
      "const eight = await import('eight');", // 11
      "let nine: import('nine').Nine;", // 12
      '// import x from "in-a-comment";', // 13
      "const s = \"import y from 'in-a-string'\";", // 14
      'const ten = require(`ten`);', // 15
    ].join('\n');
    expect(findImports(source)).toEqual([
      { specifier: './one.js', line: 1 },
      { specifier: '../agent/two.js', line: 2 },
      { specifier: './three.js', line: 3 },
      { specifier: 'node:net', line: 6 },
      { specifier: './four.js', line: 7 },
      { specifier: './five.js', line: 8 },
      { specifier: 'six', line: 9 },
      { specifier: 'seven', line: 10 },
      { specifier: 'eight', line: 11 },
      { specifier: 'nine', line: 12 },
      { specifier: 'ten', line: 15 },
    ]);
  });

  it('detects each kind of violation, and names file and line', () => {
    const core = ["import { x } from './ok.js';", "import type { Agent } from '../agent/host/agent.js';", "import { AsyncLocalStorage } from 'node:async_hooks';", "import net = require('net');", "const c = require('commander');", "void import('blessed');"].join('\n');
    expect(checkFile('src/bad.ts', core).map(format)).toEqual([
      "src/bad.ts:2: imports '../agent/host/agent.js': src/ is the pure core and imports nothing from agent/",
      "src/bad.ts:3: imports 'node:async_hooks': src/ is the pure core and does not import async_hooks",
      "src/bad.ts:4: imports 'net': src/ is the pure core and does not import net",
      "src/bad.ts:5: imports 'commander': src/ is the pure core and does not import commander",
      "src/bad.ts:6: imports 'blessed': src/ is the pure core and does not import blessed",
      "src/bad.ts:6: imports 'blessed': blessed is imported only under cli/tui/",
    ]);
    expect(checkFile('src/deep/bad.ts', "export { run } from '../../cli/main.js';").map(format)).toEqual([
      "src/deep/bad.ts:1: imports '../../cli/main.js': src/ is the pure core and imports nothing from cli/",
    ]);
    expect(checkFile('agent/bad.ts', "\nimport { Client } from '../cli/client.js';").map(format)).toEqual([
      "agent/bad.ts:2: imports '../cli/client.js': agent/ never imports from cli/",
    ]);
    expect(checkFile('cli/bad.ts', "import { task } from '../agent/index.js';\nimport { snapshot } from 'asyncmon';\nimport blessed from 'blessed';").map(format)).toEqual([
      "cli/bad.ts:1: imports '../agent/index.js': cli/ never imports from agent/: it reaches the agent over the socket",
      "cli/bad.ts:2: imports 'asyncmon': cli/ never imports from agent/: it reaches the agent over the socket",
      "cli/bad.ts:3: imports 'blessed': blessed is imported only under cli/tui/",
    ]);
  });

  it('keeps the two threads of agent/ apart: host/ and worker/ meet only through messages.ts', () => {
    const host = ["import { Session } from '../worker/session.js';", "import type { Watcher } from '../worker/watcher.js';", "import { task } from '../index.js';", "import { x } from 'asyncmon/register';"].join('\n');
    expect(checkFile('agent/host/bad.ts', host).map(format)).toEqual([
      "agent/host/bad.ts:1: imports '../worker/session.js': agent/host/ runs on the app's main thread and never imports agent/worker/: the threads meet only through agent/messages.ts",
      "agent/host/bad.ts:2: imports '../worker/watcher.js': agent/host/ runs on the app's main thread and never imports agent/worker/: the threads meet only through agent/messages.ts",
      "agent/host/bad.ts:3: imports '../index.js': agent/host/ imports nothing from the top of agent/ but agent/messages.ts",
      "agent/host/bad.ts:4: imports 'asyncmon/register': agent/host/ imports nothing from the top of agent/ but agent/messages.ts",
    ]);
    expect(checkFile('agent/worker/bad.ts', "import { getAgent } from '../host/agent.js';").map(format)).toEqual([
      "agent/worker/bad.ts:1: imports '../host/agent.js': agent/worker/ runs on the agent's worker thread and never imports agent/host/: the threads meet only through agent/messages.ts",
    ]);
    expect(checkFile('agent/register.ts', "import { main } from './worker/worker.js';").map(format)).toEqual([
      "agent/register.ts:1: imports './worker/worker.js': agent/worker/ runs as its own thread: it is started by path, never imported from outside it",
    ]);
    expect(checkFile('agent/messages.ts', "import type { Agent } from './host/agent.js';").map(format)).toEqual([
      "agent/messages.ts:1: imports './host/agent.js': agent/messages.ts is shared by both threads and imports neither room",
    ]);
    expect(misplaced(['agent/index.ts', 'agent/helper.ts', 'agent/host/a.ts', 'agent/worker/b.ts', 'agent/messages.ts'])).toEqual(['agent/helper.ts']);
  });

  it('finds import cycles, type-only ones too, and only real ones', () => {
    const tree = new Map([
      ['cli/a.ts', "import { b } from './b.js';"],
      ['cli/b.ts', "import type { C } from './c.js';\nimport { d } from './d.js';"],
      ['cli/c.ts', "import { a } from './a.js';"],
      ['cli/d.ts', "import { readFileSync } from 'node:fs';\nimport { x } from '../src/x.js';"],
      ['src/x.ts', "import { y } from './y.js';"],
      ['src/y.ts', ''],
      ['cli/self.ts', "import { s } from './self.js';"],
    ]);
    expect(importCycles(tree)).toEqual(['cli/a.ts -> cli/b.ts -> cli/c.ts -> cli/a.ts', 'cli/self.ts -> cli/self.ts']);
    tree.set('cli/c.ts', "import { d } from './d.js';");
    expect(importCycles(tree)).toEqual(['cli/self.ts -> cli/self.ts']);
  });

  it('lets allowed imports through', () => {
    expect(checkFile('src/ok.ts', "import { a } from './model.js';\nimport { b } from 'node:util';")).toEqual([]);
    expect(checkFile('agent/ok.ts', "import { a } from '../src/model.js';\nimport { createHook } from 'node:async_hooks';\nimport { c } from './task.js';")).toEqual([]);
    expect(checkFile('cli/ok.ts', "import { a } from '../src/protocol.js';\nimport { Command } from 'commander';\nimport { connect } from 'node:net';")).toEqual([]);
    expect(checkFile('cli/tui/app.ts', "import blessed from 'blessed';\nimport { x } from '../client.js';")).toEqual([]);
    expect(checkFile('agent/host/ok.ts', "import type { ToWorker } from '../messages.js';\nimport { t } from './task.js';\nimport { d } from '../../src/defaults.js';")).toEqual([]);
    expect(checkFile('agent/worker/ok.ts', "import type { ToMain } from '../messages.js';\nimport { s } from './session.js';")).toEqual([]);
    expect(checkFile('agent/index.ts', "import { getAgent } from './host/agent.js';\nimport type { WorkerConfig } from './messages.js';")).toEqual([]);
    // A name that merely starts with a forbidden one is another package.
    expect(checkFile('src/ok2.ts', "import x from 'netmask';\nimport y from 'blessed-contrib/lib/x';")).toEqual([]);
  });
});

describe('the source tree keeps its layers', () => {
  const files = sourceFiles();

  it('has sources in every room and finds their imports (the scan is not vacuous)', () => {
    for (const room of ROOMS) expect(files.filter((f) => f.startsWith(`${room}/`)).length, `files in ${room}/`).toBeGreaterThan(0);
    const agentImportsCore = files
      .filter((f) => f.startsWith('agent/'))
      .some((f) => findImports(readFileSync(join(ROOT, f), 'utf8'), f).some((r) => destination(f, r.specifier).room === 'src'));
    expect(agentImportsCore).toBe(true);
  });

  const sources = new Map(files.map((f) => [f, readFileSync(join(ROOT, f), 'utf8')]));

  it('has both thread rooms of agent/, each importing the shared messages', () => {
    for (const room of Object.keys(THREAD_ROOMS)) {
      const inRoom = files.filter((f) => f.startsWith(room));
      expect(inRoom.length, `files in ${room}`).toBeGreaterThan(0);
      const usesMessages = inRoom.some((f) => findImports(sources.get(f) ?? '', f).some((r) => destination(f, r.specifier).path === MESSAGES));
      expect(usesMessages, `${room} imports ${MESSAGES}.ts`).toBe(true);
    }
  });

  it('no file breaks a layering rule, sits out of its room, or takes part in an import cycle', () => {
    const violations = checkTree(sources);
    expect(violations, `layering violations:\n${violations.join('\n')}`).toEqual([]);
  });

  it('fails on a deliberate wrong import into the real tree', () => {
    const broken = new Map(sources);
    const monitor = 'agent/host/monitor.ts';
    const lines = (sources.get(monitor) ?? '').split('\n').length;
    broken.set(monitor, `${sources.get(monitor)}\nimport { Session } from '../worker/session.js';`);
    broken.set('cli/tui/rows.ts', `${sources.get('cli/tui/rows.ts')}\nimport type { Action } from './state.js';`);
    broken.set('agent/stray.ts', "export const stray = 1;");
    expect(checkTree(broken)).toEqual([
      `${monitor}:${lines + 1}: imports '../worker/session.js': agent/host/ runs on the app's main thread and never imports agent/worker/: the threads meet only through agent/messages.ts`,
      'agent/stray.ts: agent/ keeps only its entry points and messages.ts at the top; code goes in agent/host/ or agent/worker/',
      'import cycle: cli/tui/rows.ts -> cli/tui/state.ts -> cli/tui/rows.ts',
    ]);
  });
});

/**
 * The layering of DESIGN.md, checked on the source tree: src/ is the pure core (nothing from
 * agent/ or cli/, no async_hooks, net, commander or blessed); agent/ and cli/ never import each
 * other (cli/ reaches the agent only over the socket); blessed is imported only under cli/tui/.
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

/** Where a specifier leads: a room of this repository, or a package (builtins without `node:`). */
function destination(file: string, specifier: string): { room: Room | null; module: string | null } {
  if (specifier.startsWith('.') || specifier.startsWith('/')) {
    const target = posix.normalize(posix.join(posix.dirname(file), specifier));
    const top = target.split('/')[0];
    return { room: (ROOMS as readonly string[]).includes(top) ? (top as Room) : null, module: null };
  }
  const bare = specifier.replace(/^node:/, '');
  const parts = bare.split('/');
  const module = bare.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  return { room: module === SELF ? 'agent' : null, module };
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
  }
  return out;
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

  it('lets allowed imports through', () => {
    expect(checkFile('src/ok.ts', "import { a } from './model.js';\nimport { b } from 'node:util';")).toEqual([]);
    expect(checkFile('agent/ok.ts', "import { a } from '../src/model.js';\nimport { createHook } from 'node:async_hooks';\nimport { c } from './task.js';")).toEqual([]);
    expect(checkFile('cli/ok.ts', "import { a } from '../src/protocol.js';\nimport { Command } from 'commander';\nimport { connect } from 'node:net';")).toEqual([]);
    expect(checkFile('cli/tui/app.ts', "import blessed from 'blessed';\nimport { x } from '../client.js';")).toEqual([]);
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

  it('no file breaks a layering rule', () => {
    const violations = files.flatMap((f) => checkFile(f, readFileSync(join(ROOT, f), 'utf8'))).map(format);
    expect(violations, `layering violations:\n${violations.join('\n')}`).toEqual([]);
  });
});

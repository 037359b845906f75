import { cleanText, cleanValue } from './clean-text.js';
import { formatBytes, formatCallback, formatChain, formatDuration, formatFrame, formatSite, formatTook } from './format.js';
import type {
  AwaitWait,
  AwaitsResult,
  SuspendedFrame,
  BlockedEpisode,
  BlockedTask,
  CancelResult,
  Frame,
  HandleInfo,
  HealthResult,
  HelpEntry,
  HistoryEntry,
  Page,
  PromisesResult,
  StackResult,
  StatsResult,
  TaskInfo,
  TaskPage,
  TrackerStatus,
  TreeNode,
  WhereInfo,
} from './model.js';
import { renderTable, truncate } from './table.js';

/**
 * Text for every command's result, shared by the text REPL and the CLI so both print the same
 * thing. Each renderer takes the plain data a handler returned.
 */

/** Task names longer than this are cut in tables, so the site column keeps its room. */
const NAME_WIDTH = 32;

function more<T>(page: Page<T>, what: string): string {
  const rest = page.total - page.items.length;
  return rest > 0 ? `\n… and ${rest} more ${what}` : '';
}

/** A stacks mode as everywhere else spells it: off, tasks, on, or 1/64. */
export function stacksText(stacks: TrackerStatus['stacks']): string {
  return typeof stacks === 'number' ? `1/${stacks}` : stacks;
}

/**
 * The live tasks. A trace id (32 characters) has no room in an 80-column table, so plain `ps`
 * leaves it to `where`, the TUI's details and `--json`; `ps --trace` (every row of one trace)
 * says the trace once above the table and gives each task's span id (16) instead.
 */
export function renderTasks(page: TaskPage, width = 80): string {
  const trace = page.trace;
  if (page.total === 0) {
    return trace === undefined
      ? 'no live tasks'
      : `no live task of trace ${trace} (a task has a trace when it starts inside an active OpenTelemetry span, or is an HTTP request with a traceparent header)`;
  }
  const hasWaits = page.items.some((t) => t.waitsOn !== undefined);
  const fromHeap = page.items.some((t) => t.waitsFrom === 'heap');
  return (
    (trace !== undefined ? `trace ${traceOf(page.items, trace)}: ${page.total} live ${page.total === 1 ? 'task' : 'tasks'}\n` : '') +
    renderTable<TaskInfo>(
      [
        { header: 'ID', cell: (t) => String(t.id), right: true },
        { header: 'KIND', cell: (t) => t.kind },
        { header: 'AGE', cell: (t) => formatDuration(t.ageMs), right: true },
        { header: 'NAME', cell: (t) => truncate(t.state === 'cancelling' ? `${t.name} (cancelling)` : t.name, NAME_WIDTH) },
        ...(trace !== undefined ? [{ header: 'SPAN', cell: (t: TaskInfo) => t.spanId ?? '-' }] : []),
        {
          header: hasWaits ? 'WAITS ON' : 'CREATED AT',
          // `*`: read from a heap snapshot (`ps --deep`), the footer says which.
          cell: (t) => (hasWaits ? (t.lost ? 'nothing left can ever answer it' : formatSite(t.waitsOn)) + (t.waitsFrom === 'heap' ? ' *' : '') : t.site ? formatSite(t.site) : (t.detail ?? '-')) + (t.phase ? ` · ${t.phase}` : ''),
          flex: true,
        },
      ],
      page.items,
      width,
    ) +
    more(page, 'tasks') +
    heapFooter(page, fromHeap)
  );
}

/** `ps --deep`'s last line: which snapshot the `*` waits came from, or why there was none. */
function heapFooter(page: TaskPage, fromHeap: boolean): string {
  const h = page.heap;
  if (!h) return '';
  if ('error' in h) return `\n(no heap snapshot: ${h.error})`;
  const age = h.ageMs >= 1000 ? `, ${formatDuration(h.ageMs)} ago` : '';
  return fromHeap ? `\n* waits from a heap snapshot: host paused ${formatDuration(h.pauseMs)}${age}` : `\n(a heap snapshot found no more waits: host paused ${formatDuration(h.pauseMs)}${age})`;
}

/** The full trace id when every row has the same one (the filter may be a prefix). */
function traceOf(items: TaskInfo[], filter: string): string {
  const ids = new Set(items.map((t) => t.traceId).filter((id) => id !== undefined));
  return ids.size === 1 ? [...ids][0] : filter;
}

function frames(list: Frame[], indent = ''): string {
  return list.length === 0 ? `${indent}    (no stack)` : list.map((f) => indent + formatFrame(f)).join('\n');
}

export function renderWhere(w: WhereInfo): string {
  const lines = [`task ${w.id} ${w.name} (${w.kind}, ${w.state}, ${formatDuration(w.ageMs)})`];
  if (w.parents.length > 0) lines.push(`parents: ${w.parents.map((p) => `${p.id} ${p.name}`).join(' < ')}`);
  if (w.traceId) lines.push(w.spanId ? `trace ${w.traceId} span ${w.spanId}` : `trace ${w.traceId} (from the request's traceparent header)`);
  if (w.waitsOn) {
    lines.push(`waits on ${w.waitsOn.promiseId} at ${formatSite(w.waitsOn.site)}`);
    if (w.waitsOn.stack.length > 0) lines.push(frames(w.waitsOn.stack));
    const via = w.waitsOn.via ?? [];
    if (via.length > 0) lines.push('  and below it, in libraries:', frames(via, '  '));
  }
  if (w.waitsNote) lines.push(`(${w.waitsNote})`);
  for (const r of w.owns ?? []) lines.push(`  still owns ${r.detail ?? r.type} ${r.id}${r.site ? `, created at ${formatSite(r.site)}` : ''}`);
  if (w.site) {
    lines.push(`created at ${formatSite(w.site)}`);
    if (w.stack.length > 1) lines.push(frames(w.stack));
  }
  return lines.join('\n');
}

export function renderTree(nodes: TreeNode[], width = 80): string {
  if (nodes.length === 0) return 'no live tasks';
  const out: string[] = [];
  const walk = (node: TreeNode, prefix: string, last: boolean, root: boolean) => {
    const branch = root ? '' : last ? '└─ ' : '├─ ';
    out.push(truncate(`${prefix}${branch}${node.id} ${node.name} (${node.kind}, ${formatDuration(node.ageMs)})`, width));
    const childPrefix = root ? '' : prefix + (last ? '   ' : '│  ');
    node.children.forEach((c, i) => walk(c, childPrefix, i === node.children.length - 1, false));
  };
  nodes.forEach((n) => walk(n, '', true, true));
  return out.join('\n');
}

export function renderCancel(r: CancelResult): string {
  return `✓ ${r.message}`;
}

export function renderHandles(page: Page<HandleInfo>, width = 80): string {
  if (page.total === 0) return 'nothing keeps the process alive';
  const owners = page.items.some((h) => h.owner);
  const owner = (h: HandleInfo) => (h.owner ? `${h.owner.taskId} ${truncate(h.owner.name, 24)}${h.owner.ended ? ' (ended)' : ''}` : '-');
  return (
    renderTable<HandleInfo>(
      [
        { header: 'ID', cell: (h) => h.id, right: true },
        { header: 'KIND', cell: (h) => h.kind + (h.refed ? '' : ' (unref)') },
        { header: 'DETAIL', cell: (h) => h.detail || '-' },
        ...(owners ? [{ header: 'OWNER', cell: owner }] : []),
        { header: 'CALLBACK / CREATED AT', cell: (h) => (h.callback ? formatCallback(h) : h.site ? `created at ${formatSite(h.site)}` : '-'), flex: true },
      ],
      page.items,
      width,
    ) + more(page, 'handles')
  );
}

export function renderPromises(r: PromisesResult, width = 80): string {
  if (r.level !== 'promises') return `promises are not tracked at level ${r.level}: track promises (add "on" for creation sites)`;
  if (r.newest.total === 0) return 'no pending promises';
  const lines = [
    `${r.newest.total} pending promise${r.newest.total === 1 ? '' : 's'}${r.evicted > 0 ? ` (${r.evicted} evicted: tracking is capped)` : ''}`,
    '',
    renderTable(
      [
        { header: 'COUNT', cell: (g: (typeof r.groups.items)[number]) => String(g.count), right: true },
        { header: 'OLDEST', cell: (g) => formatDuration(g.oldestMs), right: true },
        { header: 'CREATED AT', cell: (g) => (g.site ? formatSite(g.site) : `(${g.note ?? 'no stack'})`), flex: true },
      ],
      r.groups.items,
      width,
    ),
  ];
  return lines.join('\n') + more(r.groups, 'sites');
}

export function renderStack(s: StackResult): string {
  return s.frames.length > 0 ? `${s.message}\n${frames(s.frames)}` : s.message;
}

/**
 * ` while handling GET /slow (task 12)`: the task a blocked loop was running, to follow the
 * blocking frames in every front end (empty when none is known).
 */
export function blockedTaskText(task: BlockedTask | null | undefined): string {
  if (!task) return '';
  return ` while ${task.kind === 'http-server' ? 'handling' : 'running'} ${task.name} (task ${task.id})`;
}

function blockedLine(b: BlockedEpisode): string {
  const top = formatChain(b.stack, 1);
  const at = top ? ` in ${top}` : '';
  return `${new Date(b.startedAt).toISOString()}  ${formatDuration(b.durationMs)}${b.ongoing ? ' (ongoing)' : ''}${b.inDebugger ? ' paused in a debugger' : ''}${at}${blockedTaskText(b.task)}`;
}

export function renderStats(s: StatsResult): string {
  const d = s.loop.delayMs;
  const resources = Object.entries(s.loop.activeResources)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const lines = [
    `pid ${s.pid}  node ${s.node}  up ${formatDuration(s.uptimeMs)}  level ${s.tracker.level}  stacks ${stacksText(s.tracker.stacks)}`,
    `loop delay  p50 ${d.p50}ms  p90 ${d.p90}ms  p99 ${d.p99}ms  max ${d.max}ms   utilization ${(s.loop.utilization * 100).toFixed(1)}%`,
    `memory      heap ${formatBytes(s.loop.heapUsedBytes)}  rss ${formatBytes(s.loop.rssBytes)}`,
    `tracked     tasks ${s.counts.tasks}  promises ${s.counts.promises}  resources ${s.counts.resources}  history ${s.counts.history}`,
    `dropped     tasks ${s.counters.tasksDropped}  promises evicted ${s.counters.promisesEvicted}  resources evicted ${s.counters.resourcesEvicted}  faults ${s.counters.faults}`,
    `active      ${resources || 'none'}`,
  ];
  if (s.tracker.disabledReason) lines.push(`✗ ${s.tracker.disabledReason}`);
  lines.push(s.blocked.length === 0 ? 'blocked     never' : `blocked episodes (newest first):\n${s.blocked.map((b) => '  ' + blockedLine(b)).join('\n')}`);
  return lines.join('\n');
}

function historyDetail(h: HistoryEntry): string {
  const parts: string[] = [];
  if (h.status) parts.push(String(h.status));
  if (h.outcome === 'cancelled') parts.push(`by ${h.cancelledBy ?? '?'}${h.reason ? `: ${h.reason}` : ''}`);
  else if (h.error) parts.push(h.error);
  if (h.owns && h.owns.length > 0) parts.push(`still owns ${h.owns.map((r) => `${r.detail ?? r.type} ${r.id}`).join(', ')}`);
  return parts.join(' · ');
}

export function renderHistory(page: Page<HistoryEntry>, width = 80): string {
  if (page.total === 0) return 'no finished tasks yet';
  return (
    renderTable<HistoryEntry>(
      [
        { header: 'ID', cell: (h) => String(h.id), right: true },
        { header: 'KIND', cell: (h) => h.kind },
        { header: 'OUTCOME', cell: (h) => h.outcome },
        { header: 'TOOK', cell: (h) => formatTook(h), right: true },
        { header: 'NAME', cell: (h) => truncate(h.name, NAME_WIDTH) },
        {
          header: 'DETAIL',
          cell: (h) => historyDetail(h),
          flex: true,
        },
      ],
      page.items,
      width,
    ) + more(page, 'entries')
  );
}

export function renderTrack(t: TrackerStatus): string {
  return `✓ level ${t.level}, stacks ${stacksText(t.stacks)}`;
}

export function renderHealth(h: HealthResult): string {
  if (h.status === 'paused') {
    const top = formatChain(h.stack, 3);
    return `⏸ paused in a debugger ${formatDuration(h.blockedMs)}${top ? ` at ${top}` : ''} (another inspector session stopped the main thread)`;
  }
  if (h.status === 'blocked') {
    const top = formatChain(h.stack, 3);
    return `✗ event loop blocked ${formatDuration(h.blockedMs)}${top ? ` in ${top}` : ''}${blockedTaskText(h.task)}`;
  }
  const d = h.loop?.delayMs;
  return `✓ ok  pid ${h.pid}  up ${formatDuration(h.uptimeMs)}${d ? `  loop p99 ${d.p99}ms` : ''}${h.tasks !== null ? `  tasks ${h.tasks}` : ''}`;
}

export function renderHelp(entries: HelpEntry[]): string {
  if (entries.length === 1) {
    const e = entries[0];
    return [`${e.usage}`, `  ${e.summary}`, e.aliases.length > 0 ? `  aliases: ${e.aliases.join(', ')}` : '', `  access: ${e.access}`].filter(Boolean).join('\n');
  }
  return renderTable(
    [
      // The list keeps room for what commands do: a usage too long for it shows its options as
      // `[options]`, and a named option without its value (`[--trace]`); `help ps` shows it whole.
      { header: 'COMMAND', cell: (e: HelpEntry) => listedUsage(e.usage) },
      { header: 'ALIAS', cell: (e) => e.aliases.join(',') },
      { header: 'WHAT IT DOES', cell: (e) => e.summary, flex: true, prose: true },
    ],
    entries,
    80,
  );
}

/** A usage as the help list shows it: at most 40 characters when its options can be folded. */
function listedUsage(usage: string): string {
  const short = usage.replace(/ <[^<>\]]+>\]/g, ']');
  if (short.length <= 40) return short;
  const options = short.match(/ \[--[^\]]+\]/g) ?? [];
  return options.length === 0 ? short : short.replace(/ \[--[^\]]+\]/g, '') + ' [options]';
}

/** A chain's frames, outermost first: user frames marked `›`, a library's run folded. */
function suspendedLines(frames: SuspendedFrame[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < frames.length; ) {
    const f = frames[i];
    const lib = (f.site ?? f.start)?.lib;
    if (lib) {
      let j = i;
      while (j < frames.length && (frames[j].site ?? frames[j].start)?.lib === lib) j++;
      out.push(j - i > 1 ? `    … ${j - i} frames in ${lib}` : `    ${f.fn || '<anonymous>'} (${lib})`);
      i = j;
      continue;
    }
    out.push(`  › ${f.site ? formatSite(f.site) : f.start ? `${formatSite(f.start)}, the function's start (not looked up)` : `${f.fn || '<anonymous>'} (line unknown)`}`);
    i++;
  }
  return out;
}

function waitText(w: AwaitWait, index: Map<number, number>): string {
  switch (w.kind) {
    case 'chain':
      return `waits for chain ${index.has(w.chain) ? `#${index.get(w.chain)}` : w.chain}`;
    case 'combinator':
      return `waits for Promise.${w.name}: ${w.pending}${w.total !== null ? ` of ${w.total}` : ''} input${w.pending === 1 ? '' : 's'} pending`;
    case 'promise':
      return w.heldBy.length > 0 ? `waits for a promise whose resolve function is held by ${w.heldBy.join('; ')}` : 'waits for a promise';
    default:
      return 'waits for a promise that nothing left in the process can resolve: it can never go on';
  }
}

export function renderAwaits(r: AwaitsResult): string {
  const lines = [
    `${r.total} chain${r.total === 1 ? '' : 's'} of suspended async functions${r.match !== undefined ? ` matching "${r.match}"` : ''}${r.chains.length < r.total ? ` (the first ${r.chains.length} shown)` : ''}; the host paused ${formatDuration(r.pauseMs)} to write a ${formatBytes(r.snapshotBytes)} heap snapshot`,
  ];
  const index = new Map(r.chains.map((c, i) => [c.id, i + 1]));
  r.chains.forEach((c, i) => {
    const who = c.task ? `${c.task.name} (task ${c.task.id})` : (c.request ?? '');
    lines.push('', `#${i + 1}${who ? `  ${who}` : ''}`);
    lines.push(...suspendedLines(c.frames));
    lines.push(`    ↳ ${waitText(c.waitsFor, index)}`);
    if (c.awaitedBy.length > 0) lines.push(`    ↳ awaited by ${c.awaitedBy.map((id) => (index.has(id) ? `#${index.get(id)}` : String(id))).join(', ')}`);
  });
  for (const cy of r.cycles) lines.push('', `cycle: ${cy.frames.map((f) => (f.site ? formatSite(f.site) : f.fn)).join(' ⇄ ')} can only be resolved by each other`);
  for (const l of r.lost) {
    const who = l.task ? `${l.task.name} (task ${l.task.id})` : (l.request ?? 'a request');
    lines.push('', `${who} can never be answered: nothing left in the process can resolve what it waited on (its handler's chain was collected)`);
  }
  if (r.inspector) lines.push('', r.inspector.openMs === null ? `(no agent: read through its inspector on 127.0.0.1:${r.inspector.port}, open before and left open)` : `(no agent: read through its inspector, open on 127.0.0.1:${r.inspector.port} for ${formatDuration(r.inspector.openMs)} and closed again)`);
  return lines.join('\n');
}

/** Renders any command's result as text; unknown shapes fall back to indented JSON. */
export function renderResult(cmd: string, raw: unknown, width = 80): string {
  // Every string came from the host: no control character reaches the terminal.
  const result = typeof raw === 'string' ? cleanText(raw, true) : cleanValue(raw);
  switch (cmd) {
    case 'ps':
      return renderTasks(result as TaskPage, width);
    case 'where':
      return renderWhere(result as WhereInfo);
    case 'tree':
      return renderTree(result as TreeNode[], width);
    case 'cancel':
      return renderCancel(result as CancelResult);
    case 'handles':
      return renderHandles(result as Page<HandleInfo>, width);
    case 'promises':
      return renderPromises(result as PromisesResult, width);
    case 'stack':
      return renderStack(result as StackResult);
    case 'awaits':
      return renderAwaits(result as AwaitsResult);
    case 'stats':
      return renderStats(result as StatsResult);
    case 'history':
      return renderHistory(result as Page<HistoryEntry>, width);
    case 'track':
      return renderTrack(result as TrackerStatus);
    case 'health':
      return renderHealth(result as HealthResult);
    case 'help':
      return renderHelp(result as HelpEntry[]);
    default:
      return typeof result === 'string' ? result : JSON.stringify(result, null, 2);
  }
}

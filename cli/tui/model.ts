/**
 * The TUI's state, as data: the tabs, each tab's view, and everything the reducer
 * (`state.ts`) holds. Its own file so that the reducer, the rows and the views all import it
 * and none of them imports another for its types.
 */
import type {
  BlockedEpisode,
  BlockedTask,
  Frame,
  HandleInfo,
  HistoryEntry,
  Level,
  LoopStats,
  PromiseGroup,
  ResourceInfo,
  StacksMode,
  TaskInfo,
  WhereInfo,
} from '../../src/model.js';

export const TABS = ['tasks', 'promises', 'resources', 'history', 'blocked'] as const;
export type Tab = (typeof TABS)[number];
export const TAB_TITLES: Record<Tab, string> = { tasks: 'Tasks', promises: 'Promises', resources: 'Resources', history: 'History', blocked: 'Blocked' };

export type ConnStatus = 'connecting' | 'live' | 'reconnecting' | 'file';

export interface TabView {
  selected: number;
  sortColumn: number;
  sortDesc: boolean;
  filter: string;
}

export interface State {
  conn: { status: ConnStatus; message: string; attempt: number };
  paused: boolean;
  readOnly: boolean;
  target: string;
  pid: number | null;
  node: string | null;
  uptimeMs: number;
  level: Level | null;
  stacks: StacksMode | null;
  loop: LoopStats | null;
  /** Loop delay p99 of the last minute, one value per update. */
  spark: number[];
  health: { status: 'ok' | 'blocked' | 'paused'; blockedMs: number; stack: Frame[]; task: BlockedTask | null } | null;
  tasks: TaskInfo[];
  taskTotal: number;
  promiseGroups: PromiseGroup[];
  promiseTotal: number;
  resources: ResourceInfo[];
  handles: HandleInfo[];
  history: HistoryEntry[];
  blocked: BlockedEpisode[];
  dropped: number;
  lastUpdate: number;
  /** When the last update arrived, by the TUI's clock, and how long ago that is (see 'tick'). */
  heardAt: number;
  silentMs: number;
  /** When the status message was first shown (see 'tick'). */
  flashAt: number;
  tab: Tab;
  views: Record<Tab, TabView>;
  mode: 'normal' | 'filter' | 'confirm' | 'help' | 'awaits' | 'picker';
  filterInput: string;
  tree: boolean;
  detail: { open: boolean; where: WhereInfo | null; error: string | null };
  confirm: { id: string; label: string } | null;
  /**
   * The await graph view (`a`): `awaits`' answer as the lines `asyncmon awaits` prints, fetched
   * when asked (it pauses the host: never on a timer), and how far it is scrolled.
   */
  awaits: { loading: boolean; lines: string[]; error: string | null; scroll: number; pauseMs: number | null };
  flash: string | null;
  /** The process picker (`p`): the agents discovered when it opened, and the one selected. */
  picker: { agents: PickerEntry[]; selected: number } | null;
}

/** A discovered agent, as the picker lists it. */
export interface PickerEntry {
  pid: number;
  address: string;
  command: string;
  node: string;
  startedAt: number;
}

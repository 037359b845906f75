import { describe, expect, it } from 'vitest';
import { renderTable, truncate, truncateStart, truncateWords } from '../src/table.js';
import { displayWidth, padEndColumns, padStartColumns, sliceColumns, sliceColumnsEnd } from '../src/width.js';

describe('display width in terminal columns', () => {
  it('counts ASCII as one column, CJK and emoji as two, marks and joiners as none', () => {
    expect(displayWidth('GET /users/7')).toBe(12);
    expect(displayWidth('同步用户')).toBe(8);
    expect(displayWidth('데이터')).toBe(6);
    expect(displayWidth('ｆｕｌｌ')).toBe(8);
    expect(displayWidth('🚀')).toBe(2);
    expect(displayWidth('e\u0301')).toBe(1);
    expect(displayWidth('👩‍💻 job')).toBe(6);
    expect(displayWidth('🇫🇷')).toBe(2);
    expect(displayWidth('❤️')).toBe(2);
    expect(displayWidth('✓ ok')).toBe(4);
    expect(displayWidth('…')).toBe(1);
    expect(displayWidth('')).toBe(0);
  });

  it('slices never split a wide character and fill to the width they can', () => {
    expect(sliceColumns('同步用户', 5)).toBe('同步');
    expect(sliceColumns('ab同步', 3)).toBe('ab');
    expect(sliceColumnsEnd('同步用户', 5)).toBe('用户');
    expect(sliceColumns('👩‍💻👩‍💻', 2)).toBe('👩‍💻');
    expect(padEndColumns('同步', 6)).toBe('同步  ');
    expect(padStartColumns('同步', 6)).toBe('  同步');
  });

  it('truncation marks the cut and fits the columns', () => {
    for (const w of [1, 2, 5, 9, 10]) {
      expect(displayWidth(truncate('同步用户数据的后台任务', w))).toBeLessThanOrEqual(w);
      expect(displayWidth(truncateStart('任务 (/srv/数据/用户.js:12:3)', w))).toBeLessThanOrEqual(w);
      expect(displayWidth(truncateWords('同步 用户 数据 的 后台 任务', w))).toBeLessThanOrEqual(w);
    }
    expect(truncate('同步用户数据', 7)).toBe('同步用…');
    expect(truncateStart('sync (/srv/数据/用户.js:12:3)', 24)).toBe('sync (…据/用户.js:12:3)');
  });

  it('a table with wide names keeps its columns aligned at 80 columns', () => {
    const rows = [
      { id: 1, name: '同步用户数据的后台任务'.repeat(3), age: '3s' },
      { id: 22, name: 'GET /users/🚀', age: '12s' },
      { id: 333, name: 'plain', age: '1m' },
    ];
    const text = renderTable([{ header: 'ID', cell: (r) => String(r.id), right: true }, { header: 'NAME', cell: (r) => r.name, flex: true }, { header: 'AGE', cell: (r) => r.age, right: true }], rows, 80);
    const lines = text.split('\n');
    for (const l of lines) expect(displayWidth(l)).toBeLessThanOrEqual(80);
    // The AGE column ends at the same column on every line.
    const ends = lines.map((l) => displayWidth(l));
    expect(new Set(ends).size).toBe(1);
  });
});

/**
 * Splits a byte stream into lines (LF, CRLF or a lone CR) without ever buffering more than
 * `maxLine` bytes: a longer line is reported as an overflow instead of growing a buffer.
 */
export class LineDecoder {
  private parts: Buffer[] = [];
  private pending = 0;
  private lastWasCR = false;
  overflowed = false;

  constructor(private readonly maxLine: number) {}

  /** Bytes buffered towards the next line. */
  get buffered(): number {
    return this.pending;
  }

  /** Feeds bytes; returns the complete lines they finish. After an overflow it returns nothing. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    if (this.overflowed) return lines;
    const n = chunk.length;
    let start = 0;
    // The LF of a CRLF whose CR ended the previous chunk's last line.
    if (this.lastWasCR && n > 0 && chunk[0] === 0x0a && this.pending === 0) start = 1;
    if (n > 0) this.lastWasCR = false;
    // Line ends are found with indexOf (memchr), not a byte loop in JS: a listing of 100k
    // promises is 10 MB of JSON lines, and the byte loop cost as much as JSON.parse.
    let lf = -2;
    let cr = -2;
    while (start < n) {
      if (lf !== -1 && lf < start) lf = chunk.indexOf(0x0a, start);
      if (cr !== -1 && cr < start) cr = chunk.indexOf(0x0d, start);
      const end = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr);
      if (end === -1) break;
      if (!this.take(chunk, start, end)) return lines;
      lines.push(this.flush());
      start = end + 1;
      if (chunk[end] === 0x0d) {
        if (start === n) this.lastWasCR = true;
        else if (chunk[start] === 0x0a) start++;
      }
    }
    if (start < n) this.take(chunk, start, n);
    return lines;
  }

  private take(chunk: Buffer, from: number, to: number): boolean {
    if (to <= from) return true;
    if (this.pending + (to - from) > this.maxLine) {
      this.overflowed = true;
      this.parts = [];
      this.pending = 0;
      return false;
    }
    this.parts.push(chunk.subarray(from, to));
    this.pending += to - from;
    return true;
  }

  private flush(): string {
    const line = this.parts.length === 1 ? this.parts[0].toString('utf8') : Buffer.concat(this.parts, this.pending).toString('utf8');
    this.parts = [];
    this.pending = 0;
    return line;
  }
}

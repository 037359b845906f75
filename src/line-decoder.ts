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
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      if (byte === 0x0a && this.lastWasCR && i === start && this.pending === 0) {
        // The LF of a CRLF whose CR ended the previous line.
        this.lastWasCR = false;
        start = i + 1;
        continue;
      }
      this.lastWasCR = byte === 0x0d;
      if (byte === 0x0a || byte === 0x0d) {
        if (!this.take(chunk, start, i)) return lines;
        lines.push(this.flush());
        start = i + 1;
      }
    }
    if (start < chunk.length) this.take(chunk, start, chunk.length);
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

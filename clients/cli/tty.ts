/** Live output on stderr: one status line redrawn in place on a TTY, plain periodic lines otherwise. */

export class StatusLine {
  private timer: NodeJS.Timeout | undefined;
  private drawn = false;

  constructor(
    private readonly render: () => string,
    private readonly out: NodeJS.WriteStream = process.stderr,
    /** Redraw interval on a TTY; elsewhere a line is printed every `plainEveryMs`. */
    private readonly ttyEveryMs = 250,
    private readonly plainEveryMs = 5000,
  ) {}

  get isTTY(): boolean {
    return this.out.isTTY === true;
  }

  start(): this {
    this.timer = setInterval(() => this.draw(), this.isTTY ? this.ttyEveryMs : this.plainEveryMs);
    return this;
  }

  /** Print a regular line above the live line. */
  log(text: string): void {
    this.clear();
    this.out.write(`${text}\n`);
    if (this.timer && this.isTTY) this.draw();
  }

  /** Stop redrawing; `last` (by default the current state) stays as a plain line, null leaves none. */
  stop(last: string | null = this.render()): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.clear();
    if (last !== null) this.out.write(`${last}\n`);
  }

  private draw(): void {
    const text = this.render();
    if (!this.isTTY) {
      this.out.write(`${text}\n`);
      return;
    }
    const width = this.out.columns || 120;
    this.out.write(`\r\x1b[2K${text.length >= width ? `${text.slice(0, width - 2)}…` : text}`);
    this.drawn = true;
  }

  private clear(): void {
    if (this.drawn && this.isTTY) this.out.write('\r\x1b[2K');
    this.drawn = false;
  }
}

/** A text progress bar: `[#########.........]`. */
export function bar(fraction: number, width = 24): string {
  const f = Math.min(1, Math.max(0, fraction));
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}

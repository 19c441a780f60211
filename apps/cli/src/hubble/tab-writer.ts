// The subset of Go's text/tabwriter that Hubble's table output uses (minwidth 2, tabwidth 0, padding 3, pad ' ',
// no flags): every tab-terminated cell of a column is padded to the widest cell of that column plus padding;
// the last cell of a line (not tab-terminated) is written as is.
export class TabWriter {
  private lines: string[][] = [];
  private partial = '';

  constructor(
    private readonly out: (s: string) => void,
    private readonly minWidth = 2,
    private readonly padding = 3,
  ) {}

  write(s: string): void {
    const text = this.partial + s;
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.lines.push(line.split('\t'));
  }

  flush(): void {
    if (this.partial !== '') {
      this.lines.push(this.partial.split('\t'));
      this.partial = '';
    }
    // column widths over consecutive lines that have that column as a terminated cell (a column block)
    const out: string[] = [];
    const lines = this.lines;
    const widths: number[][] = lines.map(() => []);
    const maxCols = Math.max(0, ...lines.map((l) => l.length - 1));
    for (let col = 0; col < maxCols; col++) {
      let start = 0;
      while (start < lines.length) {
        if ((lines[start]?.length ?? 0) - 1 <= col) {
          start++;
          continue;
        }
        let end = start;
        let w = 0;
        while (end < lines.length && (lines[end]?.length ?? 0) - 1 > col) {
          w = Math.max(w, [...(lines[end]?.[col] ?? '')].length + this.padding);
          end++;
        }
        w = Math.max(w, this.minWidth);
        for (let i = start; i < end; i++) widths[i]![col] = w;
        start = end;
      }
    }
    lines.forEach((cells, i) => {
      let s = '';
      cells.forEach((c, col) => {
        if (col < cells.length - 1) s += c.padEnd(widths[i]![col] ?? 0, ' ');
        else s += c;
      });
      out.push(s + '\n');
    });
    this.lines = [];
    if (out.length > 0) this.out(out.join(''));
  }
}

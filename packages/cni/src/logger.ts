/**
 * A tiny JSON-lines logger (pino's field names) that never writes to stdout: stdout carries only the
 * CNI result. Writes to the netconf `log-file` when set, else to the sink (default: stderr; inside
 * cilium-agent, the agent's log). Synchronous, so nothing is lost when the process exits right after
 * printing the result.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;
export type LogLevel = keyof typeof LEVELS;
/** Where lines go when there is no log-file (or it cannot be written). */
export type LogSink = (line: string) => void;

const stderrSink: LogSink = (line) => {
  process.stderr.write(line);
};

export class Logger {
  private file: string | undefined;
  private min: number;
  private base: Record<string, unknown>;
  private readonly sink: LogSink;

  constructor(opts: { debug?: boolean; file?: string; base?: Record<string, unknown>; sink?: LogSink } = {}) {
    this.file = opts.file;
    this.sink = opts.sink ?? stderrSink;
    this.min = opts.debug ? LEVELS.debug : LEVELS.warn;
    this.base = { subsys: 'cilium-cni', pid: process.pid, ...(opts.base ?? {}) };
  }

  configure(opts: { debug?: boolean; file?: string | undefined }): void {
    if (opts.debug !== undefined) this.min = opts.debug ? LEVELS.debug : LEVELS.warn;
    if (opts.file !== undefined) this.file = opts.file;
  }

  with(fields: Record<string, unknown>): void {
    Object.assign(this.base, fields);
  }

  debug(msg: string, fields?: Record<string, unknown>): void { this.write('debug', msg, fields); }
  info(msg: string, fields?: Record<string, unknown>): void { this.write('info', msg, fields); }
  warn(msg: string, fields?: Record<string, unknown>): void { this.write('warn', msg, fields); }
  error(msg: string, fields?: Record<string, unknown>): void { this.write('error', msg, fields); }

  private write(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (LEVELS[level] < this.min) return;
    const line = JSON.stringify({ level: LEVELS[level], time: Date.now(), ...this.base, ...(fields ?? {}), msg }) + '\n';
    if (this.file) {
      try {
        mkdirSync(dirname(this.file), { recursive: true });
        appendFileSync(this.file, line);
        return;
      } catch {
        // fall through to stderr
      }
    }
    try {
      this.sink(line);
    } catch {
      // nowhere left to log
    }
  }
}

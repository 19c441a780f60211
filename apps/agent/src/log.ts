import { destination, pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

/** Structured logs (JSON lines) on stderr. */
export function createLogger(level: string, name = 'cilium-agent'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, destination({ fd: 2, sync: true }));
}

/** The process logger (pino, JSON lines); every line carries the node's role and id. */
import { hostname } from 'node:os';
import { pino, type Logger } from 'pino';

export function createLogger(level: string, role: string): Logger {
  return pino({
    level,
    base: { node: `${hostname()}:${process.pid}`, role },
    redact: { paths: ['token', '*.token', 'headers.authorization', 'auth'], censor: '[redacted]' },
  });
}

/**
 * The process logger (pino); every line carries the node's role and id. JSON lines for machines
 * (files, pipes, containers), or pretty lines for a person at a terminal: see logFormat.
 */
import { hostname } from 'node:os';
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type LogFormat = 'json' | 'pretty';

/**
 * The format of the process's log: LOG_FORMAT when set; otherwise pretty when stdout is a terminal
 * and NODE_ENV is not `production`, JSON lines in every other case.
 */
export function logFormat(o: { isTTY: boolean; NODE_ENV: string; LOG_FORMAT?: LogFormat | undefined }): LogFormat {
  if (o.LOG_FORMAT) return o.LOG_FORMAT;
  return o.isTTY && o.NODE_ENV !== 'production' ? 'pretty' : 'json';
}

export function createLogger(level: string, role: string, format: LogFormat = 'json'): Logger {
  const options = {
    level,
    base: { node: `${hostname()}:${process.pid}`, role },
    redact: { paths: ['token', '*.token', 'headers.authorization', 'auth'], censor: '[redacted]' },
  };
  if (format === 'json') return pino(options);
  // Synchronous, in this process: no worker thread, and every line is out before process.exit.
  return pino(options, pretty({ sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,node', singleLine: true }));
}

/** Option parsers and the options every networked command shares (--url, --secret). */
import { Command, InvalidArgumentError, Option } from 'commander';
import type { LatLng } from '../../protocol/index.js';
import { DEV_JWT_SECRET } from '../../server/config.js';
import { parseLatLng } from './geo.js';

export const DEFAULT_URL = 'http://127.0.0.1:3000';

/** What --url and --secret give every command. */
export interface ConnectionOptions {
  url: string[];
  secret: string;
}

/** One or several comma-separated gateway URLs. */
export function parseUrls(value: string): string[] {
  const urls = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (urls.length === 0) throw new InvalidArgumentError('at least one URL is needed');
  for (const u of urls) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw new InvalidArgumentError(`${JSON.stringify(u)} is not a URL`);
    }
    if (!['http:', 'https:', 'ws:', 'wss:'].includes(parsed.protocol)) throw new InvalidArgumentError(`${u}: use http(s) or ws(s)`);
  }
  return urls;
}

export function parsePoint(value: string): LatLng {
  try {
    return parseLatLng(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** An integer in [min, max]. */
export const intIn = (min: number, max = Number.MAX_SAFE_INTEGER) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? ' up' : ` to ${max}`}`);
  return n;
};

/** A finite number in [min, max]. */
export const numberIn = (min: number, max = Number.MAX_VALUE) => (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`must be a number from ${min}${max === Number.MAX_VALUE ? ' up' : ` to ${max}`}`);
  return n;
};

/** "200-1500" (milliseconds, inclusive) or a single "300". */
export function parseRange(value: string): [number, number] {
  const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(value);
  if (!m) throw new InvalidArgumentError('expected MIN-MAX or N, in milliseconds (e.g. 200-1500)');
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (hi < lo) throw new InvalidArgumentError(`${hi} is smaller than ${lo}`);
  return [lo, hi];
}

/** Add --url and --secret to a command. */
export function withConnection(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--url <urls>', 'gateway URL, or several comma-separated (clients are spread round-robin over them)')
        .argParser(parseUrls)
        .default([DEFAULT_URL], DEFAULT_URL),
    )
    .addOption(
      new Option('--secret <secret>', 'HS256 secret to mint tokens with').env('JWT_SECRET').default(DEV_JWT_SECRET, 'the development secret'),
    );
}

/** Hands out URLs round-robin, so clients spread evenly over the gateways. */
export class RoundRobin {
  private i = 0;
  constructor(private readonly urls: readonly string[]) {
    if (urls.length === 0) throw new Error('no URL given');
  }

  next(): string {
    return this.urls[this.i++ % this.urls.length] as string;
  }
}

/** A uniformly random integer in [lo, hi]. */
export function randomIn([lo, hi]: readonly [number, number]): number {
  return lo + Math.floor(Math.random() * (hi - lo + 1));
}

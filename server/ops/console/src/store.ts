/**
 * The feed: one socket.io connection with the admin's token; on every connect `ops:join` (the
 * snapshot replaces what was known), then `ops:delta` applied on top. Ended calls are kept (at most
 * MAX_ENDED, for ENDED_KEEP_MS) so the page can still show and replay them; summaries for an hour.
 */
import { io, type Socket } from 'socket.io-client';
import type { OpsDelta, OpsSnapshot, Response } from '../../../../protocol/index.js';
import type { Call, ConsoleState, OpsDriver, SummarySample } from './contract.js';

const TERMINAL = new Set(['completed', 'cancelled', 'unfulfilled']);
export const MAX_ENDED = 2000;
export const ENDED_KEEP_MS = 30 * 60 * 1000;
const SUMMARY_KEEP_MS = 60 * 60 * 1000;

export const emptyState = (): ConsoleState => ({
  drivers: new Map(), calls: new Map(), summaries: [], live: false, lastAt: 0, truncated: { drivers: false, calls: false },
});

export interface FeedError { code: string; message: string }

export interface Feed {
  close(): void;
}

export interface FeedHandlers {
  onState(s: ConsoleState): void;
  /** The server refused the join (FORBIDDEN for a non-admin) or the token: the feed is closed. */
  onRefused(e: FeedError): void;
}

/** Ended calls beyond the limits dropped, oldest ended first. */
function trimEnded(calls: Map<string, Call>, now: number): void {
  const ended = [...calls.values()].filter((c) => TERMINAL.has(c.status));
  const old = ended.filter((c) => now - Date.parse(c.updatedAt) > ENDED_KEEP_MS);
  for (const c of old) calls.delete(c.id);
  const left = ended.length - old.length;
  if (left > MAX_ENDED) {
    const rest = ended.filter((c) => calls.has(c.id)).sort((a, b) => Date.parse(a.updatedAt) - Date.parse(b.updatedAt));
    for (const c of rest.slice(0, left - MAX_ENDED)) calls.delete(c.id);
  }
}

function keepSummaries(list: SummarySample[], at: number): SummarySample[] {
  return list.filter((s) => at - s.at <= SUMMARY_KEEP_MS);
}

export function applySnapshot(prev: ConsoleState, snap: OpsSnapshot): ConsoleState {
  const drivers = new Map<string, OpsDriver>(snap.drivers.map((d) => [d.driverId, d]));
  // Ended calls seen before stay (the snapshot holds open calls only).
  const calls = new Map<string, Call>();
  for (const c of prev.calls.values()) if (TERMINAL.has(c.status)) calls.set(c.id, c);
  for (const c of snap.calls) calls.set(c.id, c);
  // An open call the page knew but the snapshot lacks ended meanwhile: dropped (its end is unknown).
  trimEnded(calls, snap.at);
  return {
    drivers, calls, live: true, lastAt: snap.at, truncated: snap.truncated,
    summaries: keepSummaries([...prev.summaries, { at: snap.at, summary: snap.summary }], snap.at),
  };
}

export function applyDelta(prev: ConsoleState, delta: OpsDelta): ConsoleState {
  const drivers = new Map(prev.drivers);
  for (const d of delta.drivers) drivers.set(d.driverId, d);
  for (const id of delta.gone) drivers.delete(id);
  const calls = new Map(prev.calls);
  for (const c of delta.calls) {
    const known = calls.get(c.id);
    if (!known || known.seq <= c.seq) calls.set(c.id, c);
  }
  if (delta.calls.some((c) => TERMINAL.has(c.status))) trimEnded(calls, delta.at);
  const summaries = delta.summary ? keepSummaries([...prev.summaries, { at: delta.at, summary: delta.summary }], delta.at) : prev.summaries;
  return { ...prev, drivers, calls, summaries, lastAt: delta.at };
}

/** Connect to this server's feed. */
export function openFeed(token: string, h: FeedHandlers): Feed {
  let state = emptyState();
  let closed = false;
  const set = (s: ConsoleState) => {
    state = s;
    h.onState(s);
  };
  const socket: Socket = io({ auth: { token }, transports: ['websocket', 'polling'] });
  const refuse = (e: FeedError) => {
    if (closed) return;
    closed = true;
    socket.close();
    h.onRefused(e);
  };
  socket.on('connect', () => {
    socket.timeout(15000).emitWithAck('ops:join', {}).then((res: Response<OpsSnapshot>) => {
      if (res.ok) set(applySnapshot(state, res.data));
      else refuse({ code: res.error.code, message: res.error.message });
    }, () => {
      // No ack in time: try again on the next connect.
      socket.disconnect().connect();
    });
  });
  socket.on('ops:delta', (delta: OpsDelta) => {
    if (state.live) set(applyDelta(state, delta));
  });
  socket.on('disconnect', () => {
    if (!closed) set({ ...state, live: false });
  });
  socket.on('connect_error', (err: Error & { data?: { code?: string; message?: string } }) => {
    const code = err.data?.code ?? (/unauthori[sz]ed|token|jwt/i.test(err.message) ? 'UNAUTHORIZED' : '');
    if (code === 'UNAUTHORIZED' || code === 'FORBIDDEN') refuse({ code, message: err.data?.message ?? err.message });
  });
  return {
    close() {
      closed = true;
      socket.close();
    },
  };
}

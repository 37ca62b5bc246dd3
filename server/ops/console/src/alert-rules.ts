/**
 * The console's alert rules (pure: no DOM, no Preact; imports types only, so node tests can
 * import it). alerts.ts shows them.
 */
import type { Call, OpsDriver } from '../../../../protocol/index.js';
import { recentExpiryRate, type SummarySample } from './figures.js';

/**
 * What the rules read of contract.ts's ConsoleState and ConsoleConfig (declared here, not imported:
 * contract.ts imports Preact and htm, which the node tests cannot type-check; ConsoleState and
 * ConsoleConfig are assignable to these, which panels-check.ts makes the console's tsconfig verify).
 */
export interface ConsoleState {
  drivers: ReadonlyMap<string, OpsDriver>;
  calls: ReadonlyMap<string, Call>;
  summaries: readonly SummarySample[];
}
export interface ConsoleConfig {
  alertWaitMs: number;
  stalePositionMs: number;
  expiryRate: number;
}

export interface Alert {
  kind: 'wait' | 'stale' | 'expiry' | 'node-gone';
  /** Stable across renders (the list's key). */
  id: string;
  text: string;
  target?: { callId?: string; driverId?: string };
}

/** Statuses in which a call waits for a driver (protocol/status.ts: before `dispatched`). */
export const WAITING_STATUSES: readonly string[] = ['requested', 'offered'];

/** More stale drivers than this are grouped into one alert. */
export const STALE_GROUP_OVER = 5;
/** How many ids a grouped stale alert names. */
export const STALE_GROUP_NAMES = 3;
/** How many sample intervals the expiry rate is taken over. */
export const EXPIRY_INTERVALS = 3;

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 120 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/**
 * The alerts now:
 * - `wait`: a call requested or offered for longer than config.alertWaitMs since its createdAt (the longest waiting first);
 * - `stale`: an online driver whose updatedAt is older than config.stalePositionMs; more than
 *   STALE_GROUP_OVER of them give one alert "N drivers with stale positions" naming the first few (the stalest);
 * - `expiry`: offers expired / offers sent over the last EXPIRY_INTERVALS summary intervals above config.expiryRate;
 * - `node-gone`: every node with gone: true in the latest summary.
 */
export function alertsOf(state: ConsoleState, config: ConsoleConfig, now: number): Alert[] {
  const out: Alert[] = [];
  const latest = state.summaries[state.summaries.length - 1];
  if (latest) {
    for (const node of latest.summary.nodes) {
      if (!node.gone) continue;
      out.push({
        kind: 'node-gone', id: `node-gone:${node.id}`,
        text: `${node.role} ${node.host}${node.pid !== null ? ` (pid ${node.pid})` : ''} gone: last seen ${ago(now - node.lastSeenMs)} ago`,
      });
    }
  }
  const rate = recentExpiryRate(state.summaries, EXPIRY_INTERVALS);
  if (rate !== null && rate > config.expiryRate) {
    out.push({
      kind: 'expiry', id: 'expiry',
      text: `offer expiry rate ${(rate * 100).toFixed(1)}% (above ${(config.expiryRate * 100).toFixed(1)}%)`,
    });
  }
  const waiting: { id: string; waited: number }[] = [];
  for (const call of state.calls.values()) {
    if (!WAITING_STATUSES.includes(call.status)) continue;
    const created = Date.parse(call.createdAt);
    if (!Number.isFinite(created)) continue;
    const waited = now - created;
    if (waited > config.alertWaitMs) waiting.push({ id: call.id, waited });
  }
  waiting.sort((a, b) => b.waited - a.waited || a.id.localeCompare(b.id));
  for (const w of waiting) {
    out.push({ kind: 'wait', id: `wait:${w.id}`, text: `call ${w.id} waiting ${ago(w.waited)}`, target: { callId: w.id } });
  }
  const stale: { id: string; age: number }[] = [];
  for (const d of state.drivers.values()) {
    if (d.status === 'offline') continue;
    const age = now - d.updatedAt;
    if (age > config.stalePositionMs) stale.push({ id: d.driverId, age });
  }
  stale.sort((a, b) => b.age - a.age || a.id.localeCompare(b.id));
  if (stale.length > STALE_GROUP_OVER) {
    const first = stale[0]!;
    const names = stale.slice(0, STALE_GROUP_NAMES).map((s) => s.id).join(', ');
    out.push({
      kind: 'stale', id: 'stale:group',
      text: `${stale.length} drivers with stale positions (${names}, …)`, target: { driverId: first.id },
    });
  } else {
    for (const s of stale) {
      out.push({ kind: 'stale', id: `stale:${s.id}`, text: `driver ${s.id}: no update for ${ago(s.age)}`, target: { driverId: s.id } });
    }
  }
  return out;
}

/**
 * What the console's parts share: the state the shell keeps from the feed (snapshot + deltas), the
 * REST client, the thresholds the server hands the page, and `html` (htm bound to Preact). The
 * panels (calls table, KPI strip, alerts, replay) read these and nothing else of the shell.
 */
import { h } from 'preact';
import htm from 'htm';
import type { Call, OpsDriver, OpsSummary } from '../../../../protocol/index.js';
import type { ConsoleConfig } from '../../console-config.js';

export const html = htm.bind(h);

export type { Call, OpsDriver, OpsSummary };

/** One summary as it arrived (the snapshot's, then one every ~5 s in the deltas). */
export interface SummarySample {
  /** Epoch ms it was read (the snapshot's or delta's `at`). */
  at: number;
  summary: OpsSummary;
}

/** What the shell knows now. Replaced (a new object) on every change, so components re-render. */
export interface ConsoleState {
  /** Online drivers by id (the snapshot, then the deltas; `gone` ones removed). */
  drivers: ReadonlyMap<string, OpsDriver>;
  /** Calls by id: open ones, and the ones that ended while the page was open (kept for a while, at most a few thousand). */
  calls: ReadonlyMap<string, Call>;
  /** Summaries received, oldest first (at most the last hour). */
  summaries: readonly SummarySample[];
  /** The feed's socket is connected and joined. */
  live: boolean;
  /** Epoch ms of the last snapshot or delta. */
  lastAt: number;
  /** The snapshot said an index held more than OPS_SNAPSHOT_MAX members. */
  truncated: { drivers: boolean; calls: boolean };
}

/** Thresholds and settings from GET /ops/config.json (one type with the server's). */
export type { ConsoleConfig };

/** An answer of the REST API that was not 2xx: the protocol's error code and message. */
export class ApiError extends Error {
  constructor(readonly code: string, message: string, readonly status: number) {
    super(message);
  }
}

/** The REST client (bearer token of the signed-in admin). Throws ApiError. */
export interface Api {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
}

/** What a panel gets from the shell. */
export interface PanelProps {
  state: ConsoleState;
  config: ConsoleConfig;
  api: Api;
  /** Open a call's card (and centre the map on it). */
  selectCall(callId: string): void;
  /** Open a driver's card. */
  selectDriver(driverId: string): void;
  /** Epoch ms now (ticks once a second). */
  now: number;
}

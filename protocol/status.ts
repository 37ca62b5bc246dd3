/** Call statuses and the only moves between them (docs/protocol.md, "The status machine"). */

export const CallStatus = {
  requested: 'requested',
  offered: 'offered',
  dispatched: 'dispatched',
  arrived: 'arrived',
  inProgress: 'in_progress',
  completed: 'completed',
  cancelled: 'cancelled',
  unfulfilled: 'unfulfilled',
} as const;
export type CallStatus = (typeof CallStatus)[keyof typeof CallStatus];

export const CALL_STATUSES = [
  'requested', 'offered', 'dispatched', 'arrived', 'in_progress', 'completed', 'cancelled', 'unfulfilled',
] as const satisfies readonly CallStatus[];

/** Allowed transitions: from → the statuses it may move to. Nothing else is legal. */
export const TRANSITIONS: Readonly<Record<CallStatus, readonly CallStatus[]>> = {
  requested: ['offered', 'cancelled', 'unfulfilled'],
  offered: ['dispatched', 'cancelled', 'unfulfilled'],
  dispatched: ['arrived', 'cancelled', 'offered'],
  arrived: ['in_progress', 'cancelled', 'offered'],
  in_progress: ['completed'],
  completed: [],
  cancelled: [],
  unfulfilled: [],
};

export const TERMINAL_STATUSES: readonly CallStatus[] = ['completed', 'cancelled', 'unfulfilled'];

/** Statuses in which a driver is assigned to the call. */
export const TRIP_STATUSES: readonly CallStatus[] = ['dispatched', 'arrived', 'in_progress'];

export function isTerminal(status: CallStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export function canTransition(from: CallStatus, to: CallStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export const UserRole = { passenger: 'passenger', driver: 'driver', admin: 'admin' } as const;
export type UserRole = (typeof UserRole)[keyof typeof UserRole];

export const RevokeReason = { taken: 'taken', cancelled: 'cancelled', expired: 'expired', busy: 'busy' } as const;
export type RevokeReason = (typeof RevokeReason)[keyof typeof RevokeReason];

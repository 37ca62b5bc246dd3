/** The protocol (docs/protocol.md) in TypeScript: imported by the server and every client. */
export * from './status.js';
export * from './errors.js';
export * from './schemas.js';
export * from './events.js';
export * from './version.js';
export * from './actions.js';

/**
 * The typed client for tests and tools built on the dev kit: the protocol package's own
 * (protocol/client.ts, published as `@taxi-dispatch/protocol/client`: `connectClient`,
 * `DispatchClient`, `DispatchError`, typed `send`, `request`, `on` and `next`), re-exported here,
 * never copied. The CLI and apps import the package itself.
 */
export * from '../../protocol/client.js';

/**
 * The protocol's version: the semver of the protocol package (protocol/package.json, checked by a
 * test). A client may say which version it speaks in the handshake (`auth.protocol`); the server
 * says its own in the `hello` push. docs/protocol.md, "Versions", is the compatibility policy.
 */
export const PROTOCOL_VERSION = '1.6.0';

/** The major versions this server speaks. A client naming another major is refused at the handshake. */
export const SUPPORTED_MAJORS: readonly number[] = [1];

const SEMVER = /^(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})(?:-[0-9A-Za-z.-]{1,32})?$/;

/** The major of a semver string, or undefined when it is not one. */
export function protocolMajor(version: string): number | undefined {
  const m = SEMVER.exec(version);
  return m ? Number(m[1]) : undefined;
}

/**
 * Why a client's `auth.protocol` cannot be served, or undefined when it can. A client that sends
 * none is served as 1.x (docs/protocol.md, "Versions and compatibility").
 */
export function protocolProblem(claimed: unknown): string | undefined {
  if (claimed === undefined) return undefined;
  if (typeof claimed !== 'string') return 'auth.protocol: must be a semver string such as "1.0.0"';
  const major = protocolMajor(claimed);
  if (major === undefined) return 'auth.protocol: must be a semver string such as "1.0.0"';
  if (!SUPPORTED_MAJORS.includes(major)) {
    return `auth.protocol: ${claimed} is not supported; this server speaks ${SUPPORTED_MAJORS.map((n) => `${n}.x`).join(', ')} (${PROTOCOL_VERSION})`;
  }
  return undefined;
}

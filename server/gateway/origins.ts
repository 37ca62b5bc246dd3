/** ALLOWED_ORIGINS: empty allows any origin; otherwise a browser's Origin must be listed. */
export function originAllowed(allowed: readonly string[], origin: string | undefined): boolean {
  // Non-browser clients (CLI, servers) send no Origin header.
  if (allowed.length === 0 || origin === undefined) return true;
  return allowed.includes(origin);
}

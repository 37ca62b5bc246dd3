/**
 * The Content-Security-Policy of the pages the server serves (/docs, /ops): nothing but what each
 * page names, from the server itself. No frames, forms, plugins or base URL; no inline script.
 */
export function pagePolicy(o: { script: string; img: string }): string {
  return [
    "default-src 'none'",
    `script-src ${o.script}`,
    "style-src 'self'",
    `img-src ${o.img}`,
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ');
}

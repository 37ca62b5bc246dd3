/**
 * Raw baseline for REST: plain node:http, a POST whose JSON body is read and parsed, answered 201
 * with a small JSON body. No framework, auth, validation or Redis: the floor for `POST /api/calls`.
 * Prints `listening <port>` when ready.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

let n = 0;
const http = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let status = 201;
    let body: string;
    try {
      const parsed = JSON.parse(Buffer.concat(chunks).toString() || '{}') as { requestId?: string };
      body = JSON.stringify({ id: `raw-${++n}`, requestId: parsed.requestId ?? null, status: 'requested' });
    } catch {
      status = 400;
      body = '{"error":"bad json"}';
    }
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
http.keepAliveTimeout = 5000;

http.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${(http.address() as AddressInfo).port}\n`);
});

process.on('SIGTERM', () => {
  http.close();
  process.exit(0);
});

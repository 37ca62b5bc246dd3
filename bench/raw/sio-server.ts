/**
 * Raw baseline server: a plain Socket.IO server, the same transport settings as a gateway and, with
 * REDIS_URL set, the same @socket.io/redis-adapter, and nothing else (no auth, no validation, no
 * scripts). Events:
 *   echo(payload, ack)       → ack(payload)                      emit-with-ack round trip
 *   join(room, ack)          → joins the room, ack()
 *   fanout({room, t})        → io.to(room).emit('fan', t)         a room emit, to any node
 * GET /heap answers process.memoryUsage() (heap per socket). Prints `listening <port>` when ready.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

const redisUrl = process.env.REDIS_URL;
const key = process.env.ADAPTER_KEY ?? 'rawsio';

const http = createServer((req, res) => {
  if (req.url === '/heap') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ...process.memoryUsage(), sockets: io.engine.clientsCount }));
    return;
  }
  res.statusCode = 404;
  res.end();
});

let adapter;
if (redisUrl) {
  const pub = new Redis(redisUrl);
  const sub = new Redis(redisUrl);
  pub.on('error', () => undefined);
  sub.on('error', () => undefined);
  adapter = createAdapter(pub, sub, { key });
}

const io = new Server(http, {
  serveClient: false,
  pingInterval: 10_000,
  pingTimeout: 5000,
  maxHttpBufferSize: 64 * 1024,
  cors: { origin: true },
  ...(adapter ? { adapter } : {}),
});

io.on('connection', (socket) => {
  socket.on('echo', (payload: unknown, ack?: (v: unknown) => void) => {
    if (typeof ack === 'function') ack(payload);
  });
  socket.on('join', (room: unknown, ack?: () => void) => {
    if (typeof room === 'string') void socket.join(room);
    if (typeof ack === 'function') ack();
  });
  socket.on('fanout', (msg: { room?: unknown; t?: unknown }) => {
    if (typeof msg?.room === 'string') io.to(msg.room).emit('fan', msg.t);
  });
});

http.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${(http.address() as AddressInfo).port}\n`);
});

process.on('SIGTERM', () => {
  void io.close();
  http.close();
  process.exit(0);
});

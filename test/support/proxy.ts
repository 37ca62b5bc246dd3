/**
 * A round-robin TCP load balancer for tests, in front of gateway ports: like a real one, it sends
 * each new connection to the next backend that accepts it, so clients of a dead gateway reconnect
 * to a live one through the same URL.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export class TcpBalancer {
  private next = 0;
  private readonly open = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    public backends: number[],
  ) {}

  static async start(backends: number[]): Promise<TcpBalancer> {
    const server = createServer();
    const lb = new TcpBalancer(server, backends);
    server.on('connection', (client) => lb.route(client));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return lb;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  private route(client: Socket, tried = 0): void {
    if (tried >= this.backends.length) {
      client.destroy();
      return;
    }
    const port = this.backends[this.next++ % this.backends.length] as number;
    const upstream = connect(port, '127.0.0.1');
    this.open.add(client).add(upstream);
    const forget = () => {
      this.open.delete(client);
      this.open.delete(upstream);
    };
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => {
        client.destroy();
        forget();
      });
    });
    upstream.on('error', () => {
      if (connected) return client.destroy();
      // This backend is down: try the next one.
      forget();
      this.route(client, tried + 1);
    });
  }

  async stop(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** TCP ports on this machine: one nothing listens on, and whether a given one is free. */
import { createServer } from 'node:net';

/** A TCP port on 127.0.0.1 nothing listens on right now (for a child process to listen on). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Whether `port` can be listened on, on `host` (default: every address, as the server listens). */
export async function portFree(port: number, host?: string): Promise<boolean> {
  const s = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, host, resolve);
    });
    return true;
  } catch {
    return false;
  } finally {
    s.close();
  }
}

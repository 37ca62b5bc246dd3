/** Users connected to the gateways of a stack, closed together after each test. */
import { expect } from 'chai';
import { connect, type TestClient } from './clients.js';
import type { Stack } from './stack.js';

export function usersOf(stack: () => Stack) {
  const clients: TestClient[] = [];
  const gw = (node: number) => stack().gateways[node]!.url;
  const user = async (node: number, id: string, role: 'passenger' | 'driver') => {
    const c = await connect(gw(node), id, role);
    clients.push(c);
    return c;
  };
  return {
    gw,
    user,
    /** A driver on gateway `node`, online at `at`. */
    online: async (node: number, id: string, at: { lat: number; lng: number }) => {
      const d = await user(node, id, 'driver');
      expect(await d.emit('driver:online', at)).to.deep.equal({ ok: true, data: { status: 'available' } });
      return d;
    },
    closeAll: () => {
      for (const c of clients.splice(0)) c.close();
    },
  };
}

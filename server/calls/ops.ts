/**
 * What operators can read (admin only): the deployment from the heartbeats (server/ops/), and the
 * online drivers and open calls counted from their indexes (bounded reads, never a SCAN).
 */
import type { OpsSnapshot, OpsSummary, User } from '../../protocol/index.js';
import type { Context } from '../context.js';
import { readDeployment } from '../ops/deployment.js';
import { readSnapshot } from '../ops/feed.js';
import { requireRole } from './service.js';

/** Members of each index read for the split by status. */
export const OPS_COUNT_MAX = 10_000;

export class OpsService {
  constructor(private readonly ctx: Context) {}

  async summary(user: User): Promise<OpsSummary> {
    requireRole(user, 'admin');
    const [deployment, counts] = await Promise.all([
      readDeployment(this.ctx.redis, this.ctx.keys, this.ctx.config.HEARTBEAT_MS),
      this.ctx.commands.indexCounts({ max: OPS_COUNT_MAX }),
    ]);
    return { ...deployment, ...counts };
  }

  /** The operator feed's snapshot (ops:join, GET /api/ops/snapshot): both indexes, bounded by OPS_SNAPSHOT_MAX. */
  async snapshot(user: User): Promise<OpsSnapshot> {
    requireRole(user, 'admin');
    return readSnapshot(this.ctx.commands, () => this.summary(user), this.ctx.config.OPS_SNAPSHOT_MAX);
  }

  /** Leaving the feed is the socket's (server/gateway/socket.ts); the action checks the role. */
  leave(user: User): Promise<Record<string, never>> {
    requireRole(user, 'admin');
    return Promise.resolve({});
  }
}

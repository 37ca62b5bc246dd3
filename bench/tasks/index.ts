/** Every task a load worker can run, by name. */
import { contention } from './contention.js';
import { ledgerWriter } from './ledger-writer.js';
import { fleet, load } from './load.js';
import { matchDrivers } from './match-drivers.js';
import { matchRiders } from './match-riders.js';
import { micro } from './micro.js';
import { opsAdmin } from './ops-admin.js';
import { rawBullmqConsume, rawBullmqProduce } from './raw-bullmq.js';
import { rawEvalsha } from './raw-evalsha.js';
import { rawAck, rawIdle, rawRelease, rawRoom } from './raw-sio.js';
import { rest } from './rest.js';

export const TASKS = {
  load, fleet, contention, matchDrivers, matchRiders, rest, micro, ledgerWriter, opsAdmin, rawAck, rawRoom, rawIdle, rawRelease, rawBullmqProduce, rawBullmqConsume, rawEvalsha,
};

export type TaskName = keyof typeof TASKS;
export type TaskArgs<N extends TaskName> = Parameters<(typeof TASKS)[N]>[0];
export type TaskResult<N extends TaskName> = Awaited<ReturnType<(typeof TASKS)[N]>>;

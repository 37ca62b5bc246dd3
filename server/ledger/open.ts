/** The ledger the configuration names: PostgreSQL at DATABASE_URL, else the SQLite file at DB_PATH. */
import type { Config } from '../config.js';
import { PostgresLedger } from './postgres.js';
import { SqliteLedger } from './sqlite.js';
import type { Ledger } from './store.js';

export function openLedger(config: Pick<Config, 'DATABASE_URL' | 'DB_PATH'>, onError?: (err: Error) => void): Ledger {
  return config.DATABASE_URL ? new PostgresLedger({ url: config.DATABASE_URL, onError }) : new SqliteLedger(config.DB_PATH);
}

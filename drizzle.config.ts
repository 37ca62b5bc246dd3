// drizzle-kit: after a change to the schema, write a migration for each dialect:
//   npx drizzle-kit generate                                  (SQLite, server/ledger/schema.ts)
//   DRIZZLE_DIALECT=postgresql npx drizzle-kit generate       (PostgreSQL, server/ledger/schema.pg.ts)
// Both schemas change together: the ledger is the same on both (test/ledger-conformance.test.ts).
import { defineConfig } from 'drizzle-kit';

export default process.env.DRIZZLE_DIALECT === 'postgresql'
  ? defineConfig({ dialect: 'postgresql', schema: './server/ledger/schema.pg.ts', out: './server/ledger/migrations-pg' })
  : defineConfig({ dialect: 'sqlite', schema: './server/ledger/schema.ts', out: './server/ledger/migrations' });

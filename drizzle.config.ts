// drizzle-kit: `npx drizzle-kit generate` writes a new migration after a change to the schema.
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'sqlite',
  schema: './server/ledger/schema.ts',
  out: './server/ledger/migrations',
});

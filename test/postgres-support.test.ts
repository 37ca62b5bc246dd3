/**
 * The PostgreSQL helpers of test/support/postgres.ts: a test database on the shared server is
 * created, used and dropped; a private server starts, serves, stops, starts again on the same port
 * with its data, and is destroyed without leaving its folder behind.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { Client } from 'pg';
import { createTestDatabase, PG_URL, query, startPrivatePostgres, type PrivatePostgres, type TestDatabase } from './support/postgres.js';

const databaseNames = async () => (await query<{ datname: string }>(PG_URL, 'SELECT datname FROM pg_database')).map((r) => r.datname);

describe('postgres test support', function () {
  this.timeout(30000);

  describe('createTestDatabase', () => {
    let db: TestDatabase | undefined;
    afterEach(async () => db?.drop());

    it('creates a database of its own, usable at its url, and drops it', async () => {
      db = await createTestDatabase();
      const name = new URL(db.url).pathname.slice(1);
      expect(name).to.match(/^ledger_[0-9a-f]+$/);
      expect(await databaseNames()).to.include(name);

      await query(db.url, 'CREATE TABLE calls (id text PRIMARY KEY, seq integer NOT NULL)');
      await query(db.url, 'INSERT INTO calls (id, seq) VALUES ($1, $2), ($3, $4)', ['c1', 1, 'c2', 2]);
      expect(await query(db.url, 'SELECT id, seq FROM calls ORDER BY id')).to.deep.equal([{ id: 'c1', seq: 1 }, { id: 'c2', seq: 2 }]);
      expect((await query<{ db: string }>(db.url, 'SELECT current_database() AS db'))[0]?.db).to.equal(name);

      // An open connection does not keep it alive (WITH (FORCE)); a second drop is harmless.
      const open = new Client({ connectionString: db.url });
      open.on('error', () => undefined);
      await open.connect();
      await db.drop();
      await db.drop();
      await open.end().catch(() => undefined);
      expect(await databaseNames()).to.not.include(name);
    });

    it('gives every call a different database', async () => {
      const [a, b] = await Promise.all([createTestDatabase(), createTestDatabase()]);
      try {
        expect(a.url).to.not.equal(b.url);
      } finally {
        await Promise.all([a.drop(), b.drop()]);
      }
    });
  });

  describe('startPrivatePostgres', () => {
    let pg: PrivatePostgres | undefined;
    after(async () => pg?.destroy());

    it('starts, serves, stops, starts again on the same port with its data, and is destroyed', async () => {
      pg = await startPrivatePostgres();
      const dir = pg.dir;
      expect(existsSync(join(dir, 'PG_VERSION'))).to.equal(true);
      expect(pg.url).to.equal(`postgres://postgres@127.0.0.1:${pg.port}/postgres`);
      expect(pg.port).to.not.equal(5432);
      await query(pg.url, 'CREATE TABLE kept (n integer)');
      await query(pg.url, 'INSERT INTO kept VALUES (42)');

      await pg.stop();
      let refused: unknown;
      try {
        await query(pg.url, 'SELECT 1');
      } catch (err) {
        refused = err;
      }
      expect(refused, 'a connect after stop() fails').to.be.instanceOf(Error);
      await pg.stop(); // nothing to stop: harmless

      await pg.start();
      expect(await query(pg.url, 'SELECT n FROM kept')).to.deep.equal([{ n: 42 }]);

      // kill() skips the shutdown checkpoint; the next start recovers the committed data.
      await query(pg.url, 'INSERT INTO kept VALUES (43)');
      await pg.kill();
      await pg.start();
      expect(await query(pg.url, 'SELECT n FROM kept ORDER BY n')).to.deep.equal([{ n: 42 }, { n: 43 }]);

      await pg.destroy();
      pg = undefined;
      expect(existsSync(dir), `${dir} removed`).to.equal(false);
    });
  });
});

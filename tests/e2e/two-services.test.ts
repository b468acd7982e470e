import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createTestDatabase,
  deleteNatsStreams,
  deleteRedisKeys,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  uniqueName,
  waitFor,
  type TestDatabase,
} from '@tern/testing';
import { spawnTern, type TernProcess } from './spawn-tern';

interface AuditEntry {
  noteId: string;
  text: string;
  publishedBy: string;
  consumedBy: string;
  requestId: string | null;
}

describe('two services in separate OS processes on PostgreSQL, Redis and NATS', () => {
  let database: TestDatabase;
  const stream = uniqueName('E2E').toUpperCase();
  const redisPrefix = `${uniqueName('e2e')}:`;
  let notes: TernProcess;
  let audit: TernProcess;

  before(async () => {
    database = await createTestDatabase();
    const env = (instance: string) => ({
      DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL,
      NATS_URL: TEST_NATS_URL,
      TERN_NATS_STREAM: stream,
      TERN_REDIS_KEY_PREFIX: redisPrefix,
      TERN_ADMIN_KEY: 'e2e-admin-key-that-is-long-enough-0123456789',
      TERN_INSTANCE_ID: instance,
      TERN_LOG_LEVEL: 'info',
    });
    // Started together: migrations on one database must not race.
    [notes, audit] = await Promise.all([
      spawnTern(['start', '--service', 'notes', '--port', '0'], env('notes-1'), { withFixtures: true }),
      spawnTern(['start', '--service', 'audit', '--port', '0'], env('audit-1'), { withFixtures: true }),
    ]);
  });

  after(async () => {
    await Promise.all([notes?.stop(), audit?.stop()]);
    await database?.drop();
    await deleteNatsStreams(stream);
    await deleteRedisKeys(redisPrefix);
  });

  it('both processes are ready on the production adapters', async () => {
    for (const process of [notes, audit]) {
      const response = await fetch(`${process.url}/readyz`);
      assert.equal(response.status, 200, await response.clone().text());
      const system = await fetch(`${process.url}/v1/admin/system`, {
        headers: { authorization: 'Bearer e2e-admin-key-that-is-long-enough-0123456789' },
      });
      assert.equal(system.status, 404, 'the system service is not hosted by these processes');
    }
  });

  it("consumes in one process the event another process's write put on the queue", async () => {
    const created: { id: string; instance: string }[] = [];
    for (let index = 0; index < 5; index++) {
      const response = await fetch(`${notes.url}/v1/notes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': `e2e-req-${index}` },
        body: JSON.stringify({ text: `note ${index}` }),
      });
      assert.equal(response.status, 201);
      created.push((await response.json()) as { id: string; instance: string });
    }
    const entries = await waitFor(
      async () => {
        const list = (await (await fetch(`${audit.url}/v1/audit/entries`)).json()) as AuditEntry[];
        return list.length === created.length ? list : undefined;
      },
      { timeoutMs: 15_000, what: 'audit entries' },
    );
    assert.deepEqual(entries.map((entry) => entry.noteId).sort(), created.map((note) => note.id).sort());
    for (const entry of entries) {
      assert.equal(entry.publishedBy, 'notes-1');
      assert.equal(entry.consumedBy, 'audit-1');
      assert.match(entry.requestId ?? '', /^e2e-req-\d$/, 'the request id travels with the message');
    }
    const auditLogs = audit.stdout
      .join('')
      .split('\n')
      .filter((line) => line.includes('auditing note'));
    assert.ok(
      auditLogs.every((line) => /"requestId":"e2e-req-\d"/.test(line)),
      'the consumer logs under the request id',
    );
  });

  it('both processes drain and exit 0 on SIGTERM', async () => {
    assert.deepEqual(await Promise.all([notes.stop(), audit.stop()]), [0, 0]);
  });
});

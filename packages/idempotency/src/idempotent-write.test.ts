import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TernError } from '@tern/errors';
import { createStore, type Store } from '@tern/store';
import { createTestDatabase, quietTelemetry, type TestDatabase } from '@tern/testing';
import {
  fingerprintOf,
  idempotentWrite,
  IDEMPOTENCY_MIGRATIONS,
  IDEMPOTENCY_TTL_MS,
} from './idempotent-write';

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`idempotent writes (${dialect})`, () => {
    let store: Store;
    let dir: string;
    let database: TestDatabase | undefined;
    let writes = 0;
    const counted = (status: number, body: unknown) => async () => {
      writes++;
      return { status, body };
    };

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tern-idem-'));
      if (dialect === 'postgres') {
        database = await createTestDatabase();
        store = await createStore({ kind: 'postgres', url: database.url, poolSize: 8 }, quietTelemetry());
      } else {
        store = await createStore({ kind: 'sqlite', file: join(dir, 'tern.db') }, quietTelemetry());
      }
      await store.migrate('tern.idempotency', IDEMPOTENCY_MIGRATIONS);
    });
    after(async () => {
      await store?.close();
      await database?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('replays the stored answer to a retry with the same key and request, without writing again', async () => {
      const request = { scope: 'u1', key: 'k-replay', fingerprint: fingerprintOf('POST', '/v1/x', { a: 1 }) };
      const before = writes;
      const first = await idempotentWrite(store, request, counted(201, { id: 'doc-1' }));
      const second = await idempotentWrite(store, request, counted(201, { id: 'doc-2' }));
      assert.deepEqual(first, { status: 201, body: { id: 'doc-1' }, replayed: false });
      assert.deepEqual(second, { status: 201, body: { id: 'doc-1' }, replayed: true });
      assert.equal(writes - before, 1);
    });

    it('refuses the same key with another request (422), and keeps keys apart per caller', async () => {
      const key = 'k-mismatch';
      await idempotentWrite(
        store,
        { scope: 'u1', key, fingerprint: fingerprintOf('POST', '/v1/x', { a: 1 }) },
        counted(201, {}),
      );
      await assert.rejects(
        idempotentWrite(
          store,
          { scope: 'u1', key, fingerprint: fingerprintOf('POST', '/v1/x', { a: 2 }) },
          counted(201, {}),
        ),
        (error) =>
          error instanceof TernError && error.code === 'idempotency/key-reused' && error.status === 422,
      );
      const other = await idempotentWrite(
        store,
        { scope: 'u2', key, fingerprint: fingerprintOf('POST', '/v1/x', { a: 2 }) },
        counted(201, { mine: true }),
      );
      assert.equal(other.replayed, false);
    });

    it('runs one write for concurrent attempts with one key; every attempt gets its answer', async () => {
      const request = { scope: 'u1', key: 'k-race', fingerprint: fingerprintOf('POST', '/v1/x', { n: 1 }) };
      const before = writes;
      const answers = await Promise.all(
        Array.from({ length: 6 }, (_, n) => idempotentWrite(store, request, counted(201, { n }))),
      );
      assert.equal(writes - before, 1, 'one write');
      assert.equal(new Set(answers.map((answer) => JSON.stringify(answer.body))).size, 1, 'one answer');
      assert.equal(answers.filter((answer) => !answer.replayed).length, 1);
    });

    it('stores nothing for a write that failed, so a retry runs it again; an expired key runs again too', async () => {
      const request = { scope: 'u1', key: 'k-fail', fingerprint: 'f' };
      await assert.rejects(
        idempotentWrite(store, request, async () => {
          throw new Error('boom');
        }),
        /boom/,
      );
      const retried = await idempotentWrite(store, request, counted(200, { ok: true }));
      assert.equal(retried.replayed, false);
      await store.execute('UPDATE tern_idempotency SET created_at = $1 WHERE idem_key = $2', [
        Date.now() - IDEMPOTENCY_TTL_MS - 1,
        'k-fail',
      ]);
      const expired = await idempotentWrite(store, request, counted(200, { again: true }));
      assert.deepEqual(expired, { status: 200, body: { again: true }, replayed: false });
    });

    it('refuses keys that are empty, too long or not printable ASCII', async () => {
      for (const key of ['', 'x'.repeat(256), 'with space', 'ключ']) {
        await assert.rejects(
          idempotentWrite(store, { scope: 'u1', key, fingerprint: 'f' }, counted(200, {})),
          (error) => error instanceof TernError && error.code === 'idempotency/invalid-key',
        );
      }
    });
  });
}

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { quietTelemetry } from '@tern/testing';
import { runMailerContract } from './mailer.contract';
import { createRecordingMailer } from './recording-mailer';

runMailerContract('recording (embedded)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tern-mail-'));
  const mailer = createRecordingMailer(
    { file: join(dir, 'mail', 'outbox.jsonl'), from: 'noreply@tern.local' },
    quietTelemetry(),
  );
  return {
    mailer,
    received: async () =>
      (await mailer.list({ limit: 1000 })).map(({ to, subject, text, html }) => ({
        to,
        subject,
        text,
        html,
      })),
    async cleanup() {
      await mailer.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

it('records to a private file, lists by recipient, and skips a line torn by a crash', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tern-mail-'));
  const file = join(dir, 'outbox.jsonl');
  try {
    const mailer = createRecordingMailer({ file, from: 'noreply@tern.local' }, quietTelemetry());
    await mailer.send({ to: 'a@example.com', subject: 'one', text: '1' });
    await mailer.send({ to: 'b@example.com', subject: 'two', text: '2' });
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const { appendFileSync } = await import('node:fs');
    appendFileSync(file, '{"id":"torn","to":"a@exa');
    const forA = await mailer.list({ to: 'a@example.com' });
    assert.deepEqual(
      forA.map((mail) => mail.subject),
      ['one'],
    );
    assert.equal(forA[0]?.from, 'noreply@tern.local');
    assert.match(readFileSync(file, 'utf8'), /"subject":"two"/);
    await mailer.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { appendFile, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { counter, type Telemetry } from '@tern/telemetry';
import { validateFrom, validateMessage } from './mail-message';
import type { MailMessage, RecordedMail, RecordingMailer, SentMail } from './mailer';

/**
 * The embedded transport: nothing leaves the machine. Each message is appended as one JSON line
 * and fsynced before `send` resolves, so a mail the app "sent" is there after a crash.
 */
export function createRecordingMailer(
  config: { file: string; from: string },
  telemetry: Telemetry,
): RecordingMailer {
  const from = validateFrom(config.from);
  mkdirSync(dirname(config.file), { recursive: true });
  const sent = counter(
    telemetry.metrics,
    'tern_mail_sent_total',
    'Mail messages accepted by the transport.',
    ['transport'],
  );
  let closed = false;
  let writing: Promise<unknown> = Promise.resolve();

  async function append(line: string): Promise<void> {
    await appendFile(config.file, line, { mode: 0o600 });
    const handle = await open(config.file, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  return {
    kind: 'recording',
    async send(message: MailMessage): Promise<SentMail> {
      if (closed) throw new Error('mailer is closed');
      validateMessage(message);
      const record: RecordedMail = {
        id: `<${randomUUID()}@tern.local>`,
        from,
        sentAt: new Date().toISOString(),
        ...message,
      };
      // Appends are serialised so lines never interleave.
      const done = writing.then(() => append(`${JSON.stringify(record)}\n`));
      writing = done.catch(() => undefined);
      await done;
      sent.inc({ transport: 'recording' });
      telemetry.log.info({ mailId: record.id }, 'mail recorded');
      return { id: record.id };
    },
    async list({ to, limit = 50 } = {}) {
      let text: string;
      try {
        text = await readFile(config.file, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw error;
      }
      const records = text
        .split('\n')
        .filter(Boolean)
        .flatMap((line) => {
          try {
            return [JSON.parse(line) as RecordedMail];
          } catch {
            return []; // a line torn by a crash mid-append
          }
        })
        .filter((record) => to === undefined || record.to === to);
      return records.slice(-limit);
    },
    async ping() {
      if (closed) throw new Error('mailer is closed');
    },
    async close() {
      closed = true;
      await writing;
    },
  };
}

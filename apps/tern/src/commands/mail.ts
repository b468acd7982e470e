import { existsSync } from 'node:fs';
import type { TernConfig } from '@tern/config';
import { createRecordingMailer } from '@tern/mail';
import { createLogger, createMetricsRegistry } from '@tern/telemetry';

/** Prints the mail the embedded transport recorded (verification and reset codes), newest last. */
export async function printMail(
  config: TernConfig,
  options: { to: string | undefined; limit: number },
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  if (config.mail.kind !== 'recording') {
    err('Mail goes to an SMTP server (TERN_MAIL_URL is set); nothing is recorded here.');
    return 1;
  }
  if (!existsSync(config.mail.file)) {
    out(`No mail recorded yet (${config.mail.file}).`);
    return 0;
  }
  const telemetry = {
    log: createLogger({ level: 'silent', service: 'cli', instance: 'cli' }),
    metrics: createMetricsRegistry({ service: 'cli', instance: 'cli' }),
  };
  const mailer = createRecordingMailer(config.mail, telemetry);
  try {
    const messages = await mailer.list({
      ...(options.to ? { to: options.to.trim().toLowerCase() } : {}),
      limit: options.limit,
    });
    if (messages.length === 0) out('No mail recorded for that address.');
    for (const message of messages) {
      out(`── ${message.sentAt}  to ${message.to}\n   ${message.subject}\n\n${message.text}`);
    }
    return 0;
  } finally {
    await mailer.close();
  }
}

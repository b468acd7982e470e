import type { Telemetry } from '@tern/telemetry';
import type { MailConfig, Mailer } from './mailer';
import { createRecordingMailer } from './recording-mailer';
import { createSmtpMailer } from './smtp-mailer';

export function createMailer(config: MailConfig, telemetry: Telemetry): Mailer {
  switch (config.kind) {
    case 'recording':
      return createRecordingMailer(config, telemetry);
    case 'smtp':
      return createSmtpMailer(config, telemetry);
    default: {
      const unknown: never = config;
      // Only the kind: the rest may hold a password.
      throw new Error(`unknown mail transport: ${String((unknown as { kind?: unknown }).kind)}`);
    }
  }
}

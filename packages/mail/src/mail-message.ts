import { TernError } from '@tern/errors';
import type { MailMessage } from './mailer';

// Deliberately plain: one address, no display name, no comments — what a signup form yields.
const ADDRESS =
  /^[^\s@<>()[\]\\,;:"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

const invalid = (detail: string) =>
  new TernError({ code: 'mail/invalid-message', status: 400, title: 'Invalid Mail Message', detail });

/**
 * Checks a message the same way for every transport, so a message the embedded default accepts
 * is accepted in production too. Line breaks in the subject would let a caller inject headers.
 */
export function validateMessage(message: MailMessage): MailMessage {
  if (typeof message.to !== 'string' || message.to.length > 254 || !ADDRESS.test(message.to)) {
    throw invalid('The recipient is not a single plain e-mail address.');
  }
  if (
    typeof message.subject !== 'string' ||
    message.subject.length === 0 ||
    message.subject.length > 200 ||
    /[\r\n]/.test(message.subject)
  ) {
    throw invalid('The subject must be 1–200 characters on one line.');
  }
  if (typeof message.text !== 'string' || message.text.length > 100_000)
    throw invalid('The text body must be at most 100,000 characters.');
  if (message.html !== undefined && (typeof message.html !== 'string' || message.html.length > 200_000)) {
    throw invalid('The HTML body must be at most 200,000 characters.');
  }
  return message;
}

export function validateFrom(from: string): string {
  if (!ADDRESS.test(from)) throw invalid(`The sender address is not a plain e-mail address.`);
  return from;
}

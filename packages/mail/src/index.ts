export type { MailConfig, MailMessage, Mailer, RecordedMail, SentMail } from './mailer';
export { createMailer } from './create-mailer';
export { createRecordingMailer, type RecordingMailer } from './recording-mailer';
export { createSmtpMailer } from './smtp-mailer';
export { validateMessage } from './mail-message';

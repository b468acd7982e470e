export type {
  MailConfig,
  MailMessage,
  MailTransport,
  Mailer,
  RecordedMail,
  RecordingMailer,
  SentMail,
  SmtpMailer,
} from './mailer';
export { createMailer } from './create-mailer';
export { createRecordingMailer } from './recording-mailer';
export { createSmtpMailer } from './smtp-mailer';
export { validateMessage } from './mail-message';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html?: string;
}

export interface SentMail {
  /** The transport's message id. */
  id: string;
}

/** A message as the embedded transport recorded it. */
export interface RecordedMail extends MailMessage {
  id: string;
  from: string;
  sentAt: string;
}

/** What every transport does. */
export interface MailTransport {
  readonly kind: 'recording' | 'smtp';
  /** Resolves once the transport accepted the message (SMTP 250, or durably recorded). */
  send(message: MailMessage): Promise<SentMail>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The embedded transport can also show what it recorded. */
export interface RecordingMailer extends MailTransport {
  readonly kind: 'recording';
  /** The most recent messages, newest last, optionally only those to one address. */
  list(options?: { to?: string; limit?: number }): Promise<RecordedMail[]>;
}

export interface SmtpMailer extends MailTransport {
  readonly kind: 'smtp';
}

/** A transport, discriminated by `kind` so the recording one's `list` is reachable where it exists. */
export type Mailer = RecordingMailer | SmtpMailer;

/**
 * `recording`: the embedded default, appending every message to a JSON-lines file in the data
 * dir so a developer can read verification and reset mails without a mail server.
 * `smtp`: a real server from a URL (`smtp://user:pass@host:587`, `smtps://…` for implicit TLS).
 */
export type MailConfig =
  { kind: 'recording'; file: string; from: string } | { kind: 'smtp'; url: string; from: string };

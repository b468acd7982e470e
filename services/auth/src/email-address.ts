import { authErrors } from './auth-errors';

// Format characters (zero-width joiners, bidi overrides), controls, separators and private use:
// invisible or deceptive in an address, so refused rather than stored.
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Z}\p{Co}\p{Cs}\p{Cn}]/u;
const LOCAL = /^[^\s@"(),:;<>[\]\\]{1,64}$/u;
const DOMAIN_LABEL = /^(?!-)[\p{L}\p{N}-]{1,63}(?<!-)$/u;

/**
 * The one spelling of an address that accounts are keyed by: Unicode NFKC (so full-width and
 * compatibility look-alikes collapse), trimmed, lower-cased. Throws 400 `auth/invalid-email`.
 */
export function normalizeEmail(raw: string): string {
  const email = raw.normalize('NFKC').trim().toLowerCase();
  if (email.length > 254) throw authErrors.invalidEmail('The email address is longer than 254 characters.');
  if (INVISIBLE.test(email))
    throw authErrors.invalidEmail('The email address contains invisible characters.');
  const at = email.lastIndexOf('@');
  if (at <= 0 || at === email.length - 1) throw authErrors.invalidEmail();
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  if (!LOCAL.test(local) || local.startsWith('.') || local.endsWith('.') || local.includes('..')) {
    throw authErrors.invalidEmail();
  }
  const labels = domain.split('.');
  if (labels.length < 2 || !labels.every((label) => DOMAIN_LABEL.test(label)))
    throw authErrors.invalidEmail();
  return email;
}

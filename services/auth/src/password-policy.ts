import { authErrors } from './auth-errors';

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 256;

/**
 * NIST SP 800-63B style: length only, counted in Unicode code points after NFC normalisation,
 * checked before any hashing so an oversized password costs nothing. Returns the normalised
 * password, the form that is hashed, so the same password typed on any keyboard verifies.
 */
export function checkPasswordPolicy(raw: string): string {
  const password = raw.normalize('NFC');
  const length = [...password].length;
  if (length < PASSWORD_MIN) {
    throw authErrors.passwordPolicy(`The password must be at least ${PASSWORD_MIN} characters.`);
  }
  if (length > PASSWORD_MAX) {
    throw authErrors.passwordPolicy(`The password must be at most ${PASSWORD_MAX} characters.`);
  }
  if (/[\p{Cc}]/u.test(password)) {
    throw authErrors.passwordPolicy('The password must not contain control characters.');
  }
  return password;
}

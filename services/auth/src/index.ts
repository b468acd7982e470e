export { authService, createAuthService } from './auth-service';
export { normalizeEmail } from './email-address';
export { checkPasswordPolicy, PASSWORD_MAX, PASSWORD_MIN } from './password-policy';

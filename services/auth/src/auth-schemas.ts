import { Type } from '@tern/runtime';

/** What a client may send as a device name: shown in the session list. */
export const DeviceName = Type.String({ minLength: 1, maxLength: 100 });
// No bound here: the policy (8–256 code points) is checked in code before any hashing, so every
// password too long gets its own error code; the body limit bounds what is read at all.
export const Password = Type.String();
export const Email = Type.String({ minLength: 1, maxLength: 1024 });
export const OpaqueToken = Type.String({ minLength: 16, maxLength: 256, pattern: '^[A-Za-z0-9_-]+$' });

export const UserBody = Type.Object({
  id: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  emailVerified: Type.Boolean(),
  anonymous: Type.Boolean(),
  displayName: Type.Union([Type.String(), Type.Null()]),
  avatarUrl: Type.Union([Type.String(), Type.Null()]),
  locale: Type.Union([Type.String(), Type.Null()]),
  roles: Type.Array(Type.String()),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

export const AdminUserBody = Type.Composite([
  UserBody,
  Type.Object({
    claims: Type.Record(Type.String(), Type.Unknown()),
    disabled: Type.Boolean(),
    hasPassword: Type.Boolean(),
    identities: Type.Array(
      Type.Object({ provider: Type.String(), email: Type.Union([Type.String(), Type.Null()]) }),
    ),
  }),
]);

export const SignedIn = Type.Object({
  user: UserBody,
  accessToken: Type.String(),
  refreshToken: Type.String(),
  tokenType: Type.Literal('Bearer'),
  /** Seconds until the access token expires. */
  expiresIn: Type.Integer(),
});

export const Accepted = Type.Object({ status: Type.Literal('accepted') });
export const Done = Type.Object({ status: Type.Literal('ok') });

/** A device session as its user (and the admin) sees it; `current` marks the caller's own. */
export const SessionBody = Type.Object({
  id: Type.String(),
  method: Type.String(),
  device: Type.Union([Type.String(), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  lastUsedAt: Type.String(),
  expiresAt: Type.String(),
  current: Type.Boolean(),
});

import { randomUUID } from 'node:crypto';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JSONWebKeySet,
  type JWK,
} from 'jose';
import type { AuthConfig } from '@tern/config';
import type { Store } from '@tern/store';
import type { Logger } from '@tern/telemetry';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
}

export interface SigningKeyRing {
  /** Reads the keys (and, for generated keys, makes a new one when the active one is due). */
  refresh(): Promise<void>;
  /** The key that signs new tokens. */
  active(): SigningKey;
  /** A key that may still verify tokens, by kid: re-signing a grace-window answer needs it. */
  byKid(kid: string): SigningKey | undefined;
  /** Public keys of every key whose tokens may still be alive. */
  jwks(): JSONWebKeySet;
  /** Makes a new key the signer now; the old ones keep verifying until their tokens expired. */
  rotate(): Promise<string>;
}

interface KeyEntry extends SigningKey {
  publicJwk: JWK;
  createdAt: number;
  retiredAt: number | null;
}

interface KeyRow {
  kid: string;
  generation: number;
  private_jwk: string;
  public_jwk: string;
  created_at: number;
  retired_at: number | null;
}

/**
 * The Ed25519 keys access tokens are signed with. Either fixed by `TERN_AUTH_SIGNING_KEYS` (the
 * operator rotates by putting a new key first), or generated on first start and kept in the
 * store, where every auth instance reads them; a new key is generated every
 * `keyRotationDays`, with a unique generation number so concurrent instances make one, not two.
 */
export function createSigningKeyRing(config: AuthConfig, store: Store, log: Logger): SigningKeyRing {
  let keys: KeyEntry[] = [];
  // A retired key verifies until every token it signed has expired (plus clock tolerance).
  const verifyAfterRetireMs = (config.accessTokenTtlSeconds + 300) * 1000;

  async function loadConfigured(raw: string): Promise<KeyEntry[]> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new Error('TERN_AUTH_SIGNING_KEYS is not valid JSON');
    }
    const list = Array.isArray(parsed) ? parsed : [parsed];
    if (list.length === 0) throw new Error('TERN_AUTH_SIGNING_KEYS holds no key');
    return Promise.all(
      list.map(async (jwk: unknown, index) => {
        const candidate = jwk as JWK;
        if (candidate?.kty !== 'OKP' || candidate.crv !== 'Ed25519' || typeof candidate.d !== 'string') {
          // Position only: the value is a secret.
          throw new Error(
            `TERN_AUTH_SIGNING_KEYS[${index}] is not a private Ed25519 JWK (kty OKP, crv Ed25519, d)`,
          );
        }
        const kid = candidate.kid ?? (await calculateJwkThumbprint(candidate));
        return toEntry(kid, candidate, 0, null);
      }),
    );
  }

  async function toEntry(kid: string, privateJwk: JWK, createdAt: number, retiredAt: number | null) {
    const privateKey = (await importJWK({ ...privateJwk, alg: 'EdDSA' }, 'EdDSA')) as CryptoKey;
    const { d: _private, ...publicPart } = privateJwk;
    const publicJwk: JWK = { ...publicPart, kid, alg: 'EdDSA', use: 'sig' };
    return { kid, privateKey, publicJwk, createdAt, retiredAt };
  }

  async function readStored(): Promise<KeyRow[]> {
    return store.query<KeyRow & Record<string, unknown>>(
      'SELECT kid, generation, private_jwk, public_jwk, created_at, retired_at FROM auth_signing_keys ORDER BY generation DESC',
    );
  }

  async function generate(expectedGeneration: number): Promise<string | undefined> {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const privateJwk = await exportJWK(privateKey);
    const kid = `k${expectedGeneration}-${randomUUID().slice(0, 8)}`;
    const { d: _private, ...publicJwk } = privateJwk;
    const now = Date.now();
    return store.transaction(async (tx) => {
      const inserted = await tx.execute(
        `INSERT INTO auth_signing_keys (kid, generation, private_jwk, public_jwk, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (generation) DO NOTHING`,
        [kid, expectedGeneration, JSON.stringify(privateJwk), JSON.stringify(publicJwk), now],
      );
      if (inserted.rowCount === 0) return undefined; // another instance made this generation
      await tx.execute(
        'UPDATE auth_signing_keys SET retired_at = $1 WHERE generation < $2 AND retired_at IS NULL',
        [now, expectedGeneration],
      );
      return kid;
    });
  }

  async function loadStored(forceNew: boolean): Promise<string | undefined> {
    let rows = await readStored();
    const newest = rows[0];
    const due =
      newest === undefined || Date.now() - Number(newest.created_at) >= config.keyRotationDays * 86_400_000;
    let made: string | undefined;
    if (due || forceNew) {
      made = await generate((newest ? Number(newest.generation) : 0) + 1);
      if (made) log.info({ kid: made }, 'generated a new access token signing key');
      rows = await readStored();
    }
    const now = Date.now();
    const alive = rows.filter(
      (row) => row.retired_at === null || now - Number(row.retired_at) < verifyAfterRetireMs,
    );
    keys = await Promise.all(
      alive.map((row) =>
        toEntry(
          row.kid,
          JSON.parse(row.private_jwk) as JWK,
          Number(row.created_at),
          row.retired_at === null ? null : Number(row.retired_at),
        ),
      ),
    );
    // Keys no token can still carry are deleted: nothing verifies with them any more.
    await store.execute('DELETE FROM auth_signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1', [
      now - verifyAfterRetireMs - 86_400_000,
    ]);
    return made ?? keys[0]?.kid;
  }

  return {
    async refresh() {
      if (config.signingKeys) {
        if (keys.length === 0) keys = await loadConfigured(config.signingKeys.reveal());
        return;
      }
      await loadStored(false);
    },
    active() {
      const key = keys[0];
      if (!key) throw new Error('signing keys not loaded');
      return key;
    },
    byKid(kid) {
      return keys.find((key) => key.kid === kid);
    },
    jwks() {
      return { keys: keys.map((key) => key.publicJwk) };
    },
    async rotate() {
      if (config.signingKeys) {
        throw new Error('signing keys come from TERN_AUTH_SIGNING_KEYS: rotate them there');
      }
      const kid = await loadStored(true);
      if (!kid) throw new Error('no signing key after rotation');
      return kid;
    },
  };
}

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
  /** When it starts signing: published before, so every verifier knows it by then. */
  activatesAt: number;
  retiredAt: number | null;
}

interface KeyRow {
  kid: string;
  generation: number;
  private_jwk: string;
  public_jwk: string;
  created_at: number;
  activates_at: number;
  retired_at: number | null;
}

/**
 * A scheduled rotation publishes the new key this long before it signs: longer than instances
 * take to re-read the keys (1 min) and than verifiers cache the JWKS (5 min max-age), so no
 * verifier meets a token signed by a key it has not seen.
 */
export const KEY_PUBLISH_LEAD_MS = 10 * 60_000;

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

  async function toEntry(kid: string, privateJwk: JWK, activatesAt: number, retiredAt: number | null) {
    const privateKey = (await importJWK({ ...privateJwk, alg: 'EdDSA' }, 'EdDSA')) as CryptoKey;
    const { d: _private, ...publicPart } = privateJwk;
    const publicJwk: JWK = { ...publicPart, kid, alg: 'EdDSA', use: 'sig' };
    return { kid, privateKey, publicJwk, activatesAt, retiredAt };
  }

  async function readStored(): Promise<KeyRow[]> {
    return store.query<KeyRow & Record<string, unknown>>(
      'SELECT kid, generation, private_jwk, public_jwk, created_at, activates_at, retired_at FROM auth_signing_keys ORDER BY generation DESC',
    );
  }

  async function generate(expectedGeneration: number, activatesAt: number): Promise<string | undefined> {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const privateJwk = await exportJWK(privateKey);
    const kid = `k${expectedGeneration}-${randomUUID().slice(0, 8)}`;
    const { d: _private, ...publicJwk } = privateJwk;
    const now = Date.now();
    return store.transaction(async (tx) => {
      const inserted = await tx.execute(
        `INSERT INTO auth_signing_keys (kid, generation, private_jwk, public_jwk, created_at, activates_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (generation) DO NOTHING`,
        [kid, expectedGeneration, JSON.stringify(privateJwk), JSON.stringify(publicJwk), now, activatesAt],
      );
      if (inserted.rowCount === 0) return undefined; // another instance made this generation
      // The older keys stop signing when the new one starts, and verify on for a while after.
      await tx.execute(
        'UPDATE auth_signing_keys SET retired_at = $1 WHERE generation < $2 AND retired_at IS NULL',
        [activatesAt, expectedGeneration],
      );
      return kid;
    });
  }

  /**
   * Reads the stored keys. A first start makes a key that signs at once; a scheduled rotation
   * makes one that signs after KEY_PUBLISH_LEAD_MS; `now: true` (the admin API) at once.
   */
  async function loadStored(rotate: 'if-due' | 'now'): Promise<string | undefined> {
    let rows = await readStored();
    const newest = rows[0];
    const now = Date.now();
    // Due when the newest key (the signer, or the one about to be) has signed for the rotation
    // period less the lead, so its successor is published in time.
    const due =
      newest === undefined ||
      now - Number(newest.activates_at) >= config.keyRotationDays * 86_400_000 - KEY_PUBLISH_LEAD_MS;
    let made: string | undefined;
    if (due || rotate === 'now') {
      const immediately = newest === undefined || rotate === 'now';
      made = await generate(
        (newest ? Number(newest.generation) : 0) + 1,
        immediately ? now : now + KEY_PUBLISH_LEAD_MS,
      );
      if (made) log.info({ kid: made, immediately }, 'generated a new access token signing key');
      rows = await readStored();
    }
    const alive = rows.filter(
      (row) => row.retired_at === null || now - Number(row.retired_at) < verifyAfterRetireMs,
    );
    keys = await Promise.all(
      alive.map((row) =>
        toEntry(
          row.kid,
          JSON.parse(row.private_jwk) as JWK,
          Number(row.activates_at),
          row.retired_at === null ? null : Number(row.retired_at),
        ),
      ),
    );
    // Keys no token can still carry are deleted: nothing verifies with them any more.
    await store.execute('DELETE FROM auth_signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1', [
      now - verifyAfterRetireMs - 86_400_000,
    ]);
    return made;
  }

  return {
    async refresh() {
      if (config.signingKeys) {
        if (keys.length === 0) keys = await loadConfigured(config.signingKeys.reveal());
        return;
      }
      await loadStored('if-due');
    },
    active() {
      // Newest first: the newest key that has started signing (a pending one is only published).
      const now = Date.now();
      const key = keys.find((candidate) => candidate.activatesAt <= now) ?? keys[keys.length - 1];
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
      const kid = await loadStored('now');
      if (!kid) throw new Error('no signing key after rotation');
      return kid;
    },
  };
}

/**
 * Access-token verification per second, side by side in one process and on one core:
 *   reference  jose.jwtVerify with the key in hand (the library's own cost)
 *   cold       Tern's verifier on tokens it has not seen (claims checks + cache insert)
 *   cached     Tern's verifier on a token it has verified before
 * Shared by `npm run --workspace bench tokens` and `npm run --workspace bench auth`.
 */
import { exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { createAccessTokenVerifier } from '@tern/tokens';
import { createLogger, Registry } from '@tern/telemetry';

export interface VerificationRate {
  label: string;
  perSecond: number;
  ratioToReference: number;
}

const ROUNDS = 5;

/** Verifications per second of `run` over `list`. */
async function rate(run: (token: string) => Promise<unknown>, list: string[]): Promise<number> {
  const started = performance.now();
  for (const token of list) await run(token);
  return list.length / ((performance.now() - started) / 1000);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/** `count` distinct tokens for the reference and the cold path; ten times as many cached verifications. */
export async function measureTokenVerification(count: number): Promise<VerificationRate[]> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'EdDSA' };
  const tokens = await Promise.all(
    Array.from({ length: count }, (_, index) =>
      new SignJWT({ sid: `s${index}`, roles: ['member'] })
        .setProtectedHeader({ alg: 'EdDSA', kid: 'k1' })
        .setSubject(`user-${index}`)
        .setIssuer('tern')
        .setAudience('tern')
        .setExpirationTime('15m')
        .sign(privateKey),
    ),
  );
  const verifier = createAccessTokenVerifier({
    keys: { kind: 'local', jwks: { keys: [jwk] } },
    issuer: 'tern',
    audience: 'tern',
    cacheEntries: count * 2,
    telemetry: {
      log: createLogger({ level: 'silent', service: 'bench', instance: 'bench' }),
      metrics: new Registry(),
    },
  });

  const warm = tokens.slice(0, 200);
  for (const token of warm) await jwtVerify(token, publicKey, { algorithms: ['EdDSA'] });
  // The three alternate in rounds (each cold round on tokens not seen before) and each reports
  // its median round, so a slow patch of the machine (CPU steal on a VM) hits all three alike.
  const hot = tokens[0] ?? '';
  await verifier.verify(hot);
  const size = Math.floor(count / ROUNDS);
  const rounds = { reference: [] as number[], cold: [] as number[], cached: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    const chunk = tokens.slice(round * size, (round + 1) * size);
    const steps = [
      async () => {
        rounds.reference.push(
          await rate(
            (token) =>
              jwtVerify(token, publicKey, { algorithms: ['EdDSA'], issuer: 'tern', audience: 'tern' }),
            chunk,
          ),
        );
      },
      async () => {
        rounds.cold.push(await rate((token) => verifier.verify(token), chunk));
      },
      async () => {
        rounds.cached.push(
          await rate(
            () => verifier.verify(hot),
            Array.from({ length: size * 10 }, () => hot),
          ),
        );
      },
    ];
    // A different one goes first each round, so whatever the first pays is shared out.
    for (let step = 0; step < steps.length; step++) await steps[(round + step) % steps.length]?.();
  }
  const reference = { label: 'reference: jose.jwtVerify', perSecond: Math.round(median(rounds.reference)) };
  const cold = { label: 'tern verifier, cold', perSecond: Math.round(median(rounds.cold)) };
  const cached = { label: 'tern verifier, cached', perSecond: Math.round(median(rounds.cached)) };
  return [reference, cold, cached].map((row) => ({
    ...row,
    ratioToReference: Math.round((row.perSecond / reference.perSecond) * 100) / 100,
  }));
}

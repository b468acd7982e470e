/**
 * Access-token verification per second, side by side in one run:
 *   reference  jose.jwtVerify with the key in hand (the library's own cost)
 *   cold       Tern's verifier on tokens it has not seen (claims checks + cache insert)
 *   cached     Tern's verifier on a token it has verified before
 *
 *   npx tsx bench/token-verify.bench.ts      (BENCH_TOKENS=5000 by default)
 */
import { exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { createAccessTokenVerifier } from '@tern/tokens';
import { createLogger, Registry } from '@tern/telemetry';

const COUNT = Number(process.env.BENCH_TOKENS ?? 5000);
const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'EdDSA' };
const tokens = await Promise.all(
  Array.from({ length: COUNT }, (_, index) =>
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
  cacheEntries: COUNT * 2,
  telemetry: {
    log: createLogger({ level: 'silent', service: 'bench', instance: 'bench' }),
    metrics: new Registry(),
  },
});

async function rate(label: string, run: (token: string) => Promise<unknown>, list: string[]) {
  const started = performance.now();
  for (const token of list) await run(token);
  const seconds = (performance.now() - started) / 1000;
  return { label, perSecond: Math.round(list.length / seconds) };
}

const warm = tokens.slice(0, 200);
for (const token of warm) await jwtVerify(token, publicKey, { algorithms: ['EdDSA'] });
const reference = await rate(
  'reference: jose.jwtVerify',
  (token) => jwtVerify(token, publicKey, { algorithms: ['EdDSA'], issuer: 'tern', audience: 'tern' }),
  tokens,
);
const cold = await rate('tern verifier, cold', (token) => verifier.verify(token), tokens);
const hot = tokens[0] ?? '';
const cached = await rate(
  'tern verifier, cached',
  () => verifier.verify(hot),
  Array.from({ length: COUNT * 10 }, () => hot),
);
const rows = [reference, cold, cached].map((row) => ({
  ...row,
  ratioToReference: Math.round((row.perSecond / reference.perSecond) * 100) / 100,
}));
console.table(rows);

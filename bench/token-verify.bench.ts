/**
 * Access-token verification per second, side by side in one run:
 *   reference  jose.jwtVerify with the key in hand (the library's own cost)
 *   cold       Tern's verifier on tokens it has not seen (claims checks + cache insert)
 *   cached     Tern's verifier on a token it has verified before
 *
 *   npx tsx bench/token-verify.bench.ts      (BENCH_TOKENS=5000 by default)
 */
import { measureTokenVerification } from './lib/token-verification';

console.table(await measureTokenVerification(Number(process.env.BENCH_TOKENS ?? 5000)));

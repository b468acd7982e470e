/**
 * The cost of one argon2id verification, measured outside Tern: a bare `verifySync` loop (the
 * call Tern's hashing workers make) in a separate process pinned to one core. Run on one core
 * alone, it gives the per-core cost the login ceiling is computed from; run on every core at
 * once, it shows what the cores achieve together (they share the memory bus and last-level cache,
 * and argon2id is memory-hard: 19 MiB per hash by default).
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

export interface Argon2Params {
  memoryKiB: number;
  iterations: number;
}

const AUTH_PACKAGE = new URL('../../services/auth/package.json', import.meta.url);

const SCRIPT = `
const argon2 = require(process.env.ARGON2_PATH);
const samples = Number(process.env.ARGON2_SAMPLES);
const options = { algorithm: 2, memoryCost: Number(process.env.ARGON2_MEMORY_KIB), timeCost: Number(process.env.ARGON2_ITERATIONS), parallelism: 1 };
const password = 'bench-password-1';
const hash = argon2.hashSync(password, options);
for (let i = 0; i < 3; i++) argon2.verifySync(hash, password);
const times = [];
for (let i = 0; i < samples; i++) {
  const started = performance.now();
  if (!argon2.verifySync(hash, password)) throw new Error('verify failed');
  times.push(performance.now() - started);
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ medianMs: times[Math.floor(times.length / 2)] }));
`;

function runPinned(core: number | undefined, params: Argon2Params, samples: number): Promise<number> {
  const argv = ['-e', SCRIPT];
  const child =
    core === undefined
      ? spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'], env: envFor(params, samples) })
      : spawn('taskset', ['-c', String(core), process.execPath, ...argv], {
          stdio: ['ignore', 'pipe', 'inherit'],
          env: envFor(params, samples),
        });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`argon2 timing exited with ${code}: ${output}`));
      else resolve((JSON.parse(output) as { medianMs: number }).medianMs);
    });
  });
}

function envFor(params: Argon2Params, samples: number): NodeJS.ProcessEnv {
  return {
    ...process.env,
    // Resolved from the auth service's package, so it is the very build Tern loads.
    ARGON2_PATH: createRequire(AUTH_PACKAGE).resolve('@node-rs/argon2'),
    ARGON2_MEMORY_KIB: String(params.memoryKiB),
    ARGON2_ITERATIONS: String(params.iterations),
    ARGON2_SAMPLES: String(samples),
  };
}

/**
 * Median milliseconds per verification: `solo` on one core with the others idle, `together` the
 * median per core while every core runs its own loop (one process per core, each pinned).
 */
export async function argon2VerifyMs(
  params: Argon2Params,
  cores: number,
  pin: boolean,
  samples = 40,
): Promise<{ soloMs: number; togetherMs: number[] }> {
  const soloMs = await runPinned(pin ? cores - 1 : undefined, params, samples);
  const togetherMs = await Promise.all(
    Array.from({ length: cores }, (_, core) => runPinned(pin ? core : undefined, params, samples)),
  );
  return { soloMs, togetherMs };
}

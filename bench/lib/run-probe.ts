import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProbeInput, ProbeResult } from './rate-probe';

/** Runs the fixed-rate probe (rate-probe.ts) in its own process and resolves to its result. */
export async function runProbe(input: ProbeInput): Promise<ProbeResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tern-bench-probe-'));
  const inputFile = join(dir, 'input.json');
  writeFileSync(inputFile, JSON.stringify(input));
  const file = fileURLToPath(new URL('./rate-probe.ts', import.meta.url));
  // Inherits this process's core and tsx's loader flags.
  const child = spawn(process.execPath, [...process.execArgv, file], {
    env: { ...process.env, BENCH_PROBE_FILE: inputFile },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  try {
    return await new Promise((resolve, reject) => {
      child.on('exit', (code) => {
        if (code !== 0) reject(new Error(`probe exited with ${code}: ${output}`));
        else resolve(JSON.parse(output) as ProbeResult);
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

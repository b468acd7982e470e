import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('./upstream-fixture.mjs', import.meta.url));

export interface Fixture {
  id: string;
  origin: string;
  child: ChildProcess;
}

/** A stand-in service instance in its own process (so it can be SIGKILLed). */
export async function startFixture(id: string): Promise<Fixture> {
  const child = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, FIXTURE_ID: id },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const origin = await new Promise<string>((resolve, reject) => {
    let output = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const match = /listening on (\S+)/.exec(output);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`fixture ${id} exited with ${code}`)));
  });
  return { id, origin, child };
}

export async function stopFixture(fixture: Fixture, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (fixture.child.exitCode !== null || fixture.child.signalCode !== null) return;
  const exited = new Promise((resolve) => fixture.child.once('exit', resolve));
  fixture.child.kill(signal);
  await exited;
}

export interface Answer {
  status: number;
  headers: Headers;
  body: { instance?: string; headers?: Record<string, string>; bytes?: number; code?: string; url?: string };
}

export async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : {} };
}

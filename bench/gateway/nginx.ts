/** nginx as a plain reverse proxy with a keep-alive upstream pool: the native baseline. */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@tern/testing';

export function nginxPath(): string | undefined {
  for (const candidate of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx']) {
    try {
      execFileSync(candidate, ['-v'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

/** One worker, pinned with taskset when `cpus` is given, access log off. */
export async function startNginx(
  binary: string,
  upstream: string,
  cpus: string | undefined,
): Promise<{ url: string; child: ChildProcess; pid: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'tern-bench-nginx-'));
  const port = await freePort();
  const target = new URL(upstream);
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir};
  proxy_temp_path ${dir};
  upstream tern { server ${target.host}; keepalive 128; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://tern;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
    }
  }
}
`,
  );
  const args = ['-c', join(dir, 'nginx.conf'), '-g', 'daemon off; master_process off;'];
  const child = spawn(
    cpus === undefined ? binary : 'taskset',
    cpus === undefined ? args : ['-c', cpus, binary, ...args],
    {
      stdio: 'ignore',
    },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`${url}/healthz`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ok) return { url, child, pid: child.pid ?? 0 };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGKILL');
  throw new Error('nginx did not start');
}

import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { runtimeErrors } from '@tern/errors';
import type { Registry } from '@tern/telemetry';
import { sendProblem } from './problem-reply';

export interface Readiness {
  ready: boolean;
  checks: Record<string, string>;
}

/** `/healthz` (alive), `/readyz` (dependencies and migrations; 503 otherwise), `/metrics`. */
export function registerHealthRoutes(
  app: FastifyInstance,
  options: { readiness: () => Promise<Readiness>; metrics: Registry },
): void {
  const checks = Type.Record(Type.String(), Type.String());
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: the process is up.',
        tags: ['health'],
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: dependencies reachable and migrations applied; 503 otherwise.',
        tags: ['health'],
        response: { 200: Type.Object({ status: Type.Literal('ready'), checks }) },
      },
    },
    async (request, reply) => {
      const readiness = await options.readiness();
      if (!readiness.ready) {
        const failing = Object.entries(readiness.checks)
          .filter(([, state]) => state !== 'ok')
          .map(([name]) => name);
        const error = runtimeErrors.notReady(failing);
        Object.assign(error.details, { checks: readiness.checks });
        return sendProblem(request, reply, error);
      }
      return { status: 'ready' as const, checks: readiness.checks };
    },
  );
  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics.', tags: ['health'] } },
    async (_request, reply) => {
      const text = await options.metrics.metrics();
      return reply.type(options.metrics.contentType).send(text);
    },
  );
}

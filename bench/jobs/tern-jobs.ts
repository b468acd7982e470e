/**
 * Tern for the jobs benchmark: the real CLI, with the jobs service given one more type,
 * `bench.noop` (any signed-in user or the admin key; does nothing), so what is measured is the
 * way in and out of the queue, not a handler. Started with `start --service jobs`.
 */
import { defaultCatalog, runCli } from '@tern/cli';
import { createJobsService, type JobType } from '@tern/jobs';
import type { ServiceDefinition } from '@tern/runtime';

const noop: JobType<never> = {
  type: 'bench.noop',
  description: 'Does nothing.',
  access: 'user',
  payloadSchema: { type: 'object', properties: { n: { type: 'integer' } } },
  async run() {
    return null;
  },
};
const jobs: ServiceDefinition = {
  name: 'jobs',
  create: (deps) => createJobsService(deps, { extraTypes: [noop] }),
};

process.exitCode = await runCli(process.argv.slice(2), {
  catalog: defaultCatalog.map((definition) => (definition.name === 'jobs' ? jobs : definition)),
});

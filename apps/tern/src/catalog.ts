import { authService } from '@tern/auth';
import { dataService } from '@tern/data';
import { jobsService, workerService } from '@tern/jobs';
import type { ServiceDefinition } from '@tern/runtime';
import { systemService } from '@tern/system';

/**
 * Every service this program can host. `npm start` hosts them all but `worker` (the jobs service
 * runs workers itself); `--service` picks some, `--service worker` adds worker processes.
 */
export const defaultCatalog: readonly ServiceDefinition[] = [
  systemService,
  authService,
  dataService,
  jobsService,
  workerService,
];

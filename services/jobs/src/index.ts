export { createJobsService, jobsService, workerService, type JobsServiceOptions } from './jobs-service';
export type { JobAccess, JobRunContext, JobType } from './job-types';
export { PermanentJobError } from './jobs-errors';
export { checkWebhookUrl, isPublicAddress } from './types/webhook-deliver';

export { TernError, isTernError, type TernErrorOptions } from './tern-error';
export { runtimeErrors } from './catalog';
export { toProblem, problemType, PROBLEM_CONTENT_TYPE, type Problem } from './problem';
export { answerClientError } from './client-error';
export { fieldErrorsProblem, type FieldError } from './field-errors';

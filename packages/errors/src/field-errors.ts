/** One schema violation: where in the value (a JSON Pointer) and what is wrong. */
export interface FieldError {
  path: string;
  message: string;
}

/**
 * The `detail` and `details` of a 400 for schema violations: the first five in one readable
 * line, the first twenty listed for programs.
 */
export function fieldErrorsProblem(errors: readonly FieldError[]): {
  detail: string;
  details: { errors: FieldError[] };
} {
  return {
    detail: errors
      .slice(0, 5)
      .map((error) => `${error.path || '/'} ${error.message}`)
      .join('; '),
    details: { errors: errors.slice(0, 20) },
  };
}

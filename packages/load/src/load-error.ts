/** A load run that cannot start as asked: a bad flag, a scenario that does not load, a target refused. */
export class LoadError extends Error {
  override readonly name = 'LoadError';
}

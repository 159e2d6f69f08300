import { ThreadsError } from '../index.ts'

/** What the `threads` command refuses before touching a store. */

/** Arguments the command cannot use: an unknown command or option, a missing argument, input that is not JSON. */
export class UsageError extends ThreadsError {
  static readonly code = 'ERR_USAGE'
  constructor (message: string, options?: ErrorOptions) {
    super('UsageError', UsageError.code, message, options)
  }
}

/** A daemon already runs on the path: a second process writing the same logs would race it. */
export class PathInUseError extends ThreadsError {
  static readonly code = 'ERR_PATH_IN_USE'
  constructor (message: string, options?: ErrorOptions) {
    super('PathInUseError', PathInUseError.code, message, options)
  }
}

/** A read-only command pointed at a path that holds no peer. */
export class NoPeerError extends ThreadsError {
  static readonly code = 'ERR_NO_PEER'
  constructor (message: string, options?: ErrorOptions) {
    super('NoPeerError', NoPeerError.code, message, options)
  }
}

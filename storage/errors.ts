import { ThreadsError } from '../codecs/errors.ts'

/** An operation on a storage environment that was already closed. */
export class StorageClosedError extends ThreadsError {
  static readonly code = 'ERR_STORAGE_CLOSED'
  constructor (message: string, options?: ErrorOptions) {
    super('StorageClosedError', StorageClosedError.code, message, options)
  }
}

/** A thread this peer holds no keys for. */
export class UnknownThreadError extends ThreadsError {
  static readonly code = 'ERR_UNKNOWN_THREAD'
  constructor (message: string, options?: ErrorOptions) {
    super('UnknownThreadError', UnknownThreadError.code, message, options)
  }
}

/** A log that is not part of the thread here. */
export class UnknownLogError extends ThreadsError {
  static readonly code = 'ERR_UNKNOWN_LOG'
  constructor (message: string, options?: ErrorOptions) {
    super('UnknownLogError', UnknownLogError.code, message, options)
  }
}

/** A thread or log already present, added again with different keys. */
export class ConflictingKeyError extends ThreadsError {
  static readonly code = 'ERR_CONFLICTING_KEY'
  constructor (message: string, options?: ErrorOptions) {
    super('ConflictingKeyError', ConflictingKeyError.code, message, options)
  }
}

/** The operation needs a key this peer does not hold (a log's private key, the thread's read key). */
export class MissingKeyError extends ThreadsError {
  static readonly code = 'ERR_MISSING_KEY'
  constructor (message: string, options?: ErrorOptions) {
    super('MissingKeyError', MissingKeyError.code, message, options)
  }
}

/** A record this log already holds, offered again. */
export class ReplayedRecordError extends ThreadsError {
  static readonly code = 'ERR_RECORD_REPLAYED'
  constructor (message: string, options?: ErrorOptions) {
    super('ReplayedRecordError', ReplayedRecordError.code, message, options)
  }
}

/** A record whose `prev` is not yet held here: its ancestors must be fetched before it can be accepted. */
export class MissingAncestorError extends ThreadsError {
  static readonly code = 'ERR_MISSING_ANCESTOR'
  /** The CID of the record this log still needs, as a string. */
  readonly missing: string
  constructor (message: string, missing: string, options?: ErrorOptions) {
    super('MissingAncestorError', MissingAncestorError.code, message, options)
    this.missing = missing
  }
}

/** A record that links to something other than the log's head: a second child of an earlier record (a fork). */
export class ForkedLogError extends ThreadsError {
  static readonly code = 'ERR_LOG_FORK'
  constructor (message: string, options?: ErrorOptions) {
    super('ForkedLogError', ForkedLogError.code, message, options)
  }
}

/** A block this peer does not hold. */
export class BlockNotFoundError extends ThreadsError {
  static readonly code = 'ERR_BLOCK_NOT_FOUND'
  constructor (message: string, options?: ErrorOptions) {
    super('BlockNotFoundError', BlockNotFoundError.code, message, options)
  }
}

/** A stored log that fails end-to-end verification: a missing block, a broken link, a bad signature. */
export class CorruptLogError extends ThreadsError {
  static readonly code = 'ERR_CORRUPT_LOG'
  constructor (message: string, options?: ErrorOptions) {
    super('CorruptLogError', CorruptLogError.code, message, options)
  }
}

/** An address-book or metadata argument out of range: a negative TTL, an empty name. */
export class InvalidArgumentError extends ThreadsError {
  static readonly code = 'ERR_INVALID_ARGUMENT'
  constructor (message: string, options?: ErrorOptions) {
    super('InvalidArgumentError', InvalidArgumentError.code, message, options)
  }
}

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

/** An operation on a collection the store has no definition for. */
export class UnknownCollectionError extends ThreadsError {
  static readonly code = 'ERR_UNKNOWN_COLLECTION'
  constructor (message: string, options?: ErrorOptions) {
    super('UnknownCollectionError', UnknownCollectionError.code, message, options)
  }
}

/** A collection definition whose JSON schema does not compile, or whose index names no path. */
export class InvalidSchemaError extends ThreadsError {
  static readonly code = 'ERR_INVALID_SCHEMA'
  constructor (message: string, options?: ErrorOptions) {
    super('InvalidSchemaError', InvalidSchemaError.code, message, options)
  }
}

/** An entity that does not match its collection's JSON schema. */
export class SchemaViolationError extends ThreadsError {
  static readonly code = 'ERR_SCHEMA_VIOLATION'
  /** Each problem as `<JSON pointer> <message>`. */
  readonly problems: readonly string[]
  constructor (message: string, problems: readonly string[], options?: ErrorOptions) {
    super('SchemaViolationError', SchemaViolationError.code, message, options)
    this.problems = problems
  }
}

/** A create of an entity whose ID is already taken. */
export class EntityExistsError extends ThreadsError {
  static readonly code = 'ERR_ENTITY_EXISTS'
  constructor (message: string, options?: ErrorOptions) {
    super('EntityExistsError', EntityExistsError.code, message, options)
  }
}

/** A save, update or delete of an entity that does not exist. */
export class EntityNotFoundError extends ThreadsError {
  static readonly code = 'ERR_ENTITY_NOT_FOUND'
  constructor (message: string, options?: ErrorOptions) {
    super('EntityNotFoundError', EntityNotFoundError.code, message, options)
  }
}

/** A write that would give two entities the same value in a unique index. */
export class UniqueViolationError extends ThreadsError {
  static readonly code = 'ERR_UNIQUE_VIOLATION'
  /** The index path whose value is taken. */
  readonly path: string
  constructor (message: string, path: string, options?: ErrorOptions) {
    super('UniqueViolationError', UniqueViolationError.code, message, options)
    this.path = path
  }
}

/** A transaction used after it committed or aborted, or a write attempted in a read transaction. */
export class TransactionClosedError extends ThreadsError {
  static readonly code = 'ERR_TRANSACTION_CLOSED'
  constructor (message: string, options?: ErrorOptions) {
    super('TransactionClosedError', TransactionClosedError.code, message, options)
  }
}

/** A transaction whose body was still running at its time limit: nothing it wrote was committed. */
export class TransactionTimeoutError extends ThreadsError {
  static readonly code = 'ERR_TRANSACTION_TIMEOUT'
  constructor (message: string, options?: ErrorOptions) {
    super('TransactionTimeoutError', TransactionTimeoutError.code, message, options)
  }
}

/** A write to a thread made from inside one of its write transactions' bodies without going through it. */
export class NestedWriteError extends ThreadsError {
  static readonly code = 'ERR_NESTED_WRITE'
  constructor (message: string, options?: ErrorOptions) {
    super('NestedWriteError', NestedWriteError.code, message, options)
  }
}

/** A listener found events it had not read gone from the thread's arrival index. */
export class EventsMissingError extends ThreadsError {
  static readonly code = 'ERR_EVENTS_MISSING'
  constructor (message: string, options?: ErrorOptions) {
    super('EventsMissingError', EventsMissingError.code, message, options)
  }
}

/** A network operation on a peer created with `network: false`. */
export class NetworkUnavailableError extends ThreadsError {
  static readonly code = 'ERR_NO_NETWORK'
  constructor (message: string, options?: ErrorOptions) {
    super('NetworkUnavailableError', NetworkUnavailableError.code, message, options)
  }
}

/** A write, grant or revoke by a peer whose roles in the thread's ACL do not allow it. */
export class AccessDeniedError extends ThreadsError {
  static readonly code = 'ERR_ACCESS_DENIED'
  constructor (message: string, options?: ErrorOptions) {
    super('AccessDeniedError', AccessDeniedError.code, message, options)
  }
}

/** A Join that matches no invite of the thread: unknown invite, another invitee, or the wrong token or binding. */
export class JoinMismatchError extends ThreadsError {
  static readonly code = 'ERR_JOIN_MISMATCH'
  constructor (message: string, options?: ErrorOptions) {
    super('JoinMismatchError', JoinMismatchError.code, message, options)
  }
}

/** A second Join for an invite that another Join (or an earlier one of the same log) already used. */
export class DuplicateJoinError extends ThreadsError {
  static readonly code = 'ERR_DUPLICATE_JOIN'
  constructor (message: string, options?: ErrorOptions) {
    super('DuplicateJoinError', DuplicateJoinError.code, message, options)
  }
}

/** An invite presented again after it was accepted or declined here. */
export class InviteReplayedError extends ThreadsError {
  static readonly code = 'ERR_INVITE_REPLAYED'
  constructor (message: string, options?: ErrorOptions) {
    super('InviteReplayedError', InviteReplayedError.code, message, options)
  }
}

/** A genesis that does not derive the thread's ID, or that the thread already has. */
export class InvalidGenesisError extends ThreadsError {
  static readonly code = 'ERR_INVALID_GENESIS'
  constructor (message: string, options?: ErrorOptions) {
    super('InvalidGenesisError', InvalidGenesisError.code, message, options)
  }
}

/** A write to a store this peer only reads: it holds the thread's keys, but no log of its own to write to. */
export class ReadOnlyStoreError extends ThreadsError {
  static readonly code = 'ERR_READ_ONLY'
  constructor (message: string, options?: ErrorOptions) {
    super('ReadOnlyStoreError', ReadOnlyStoreError.code, message, options)
  }
}

/** An invite this peer will not hold: too many are already pending, from its inviter or from everyone. */
export class TooManyInvitesError extends ThreadsError {
  static readonly code = 'ERR_TOO_MANY_INVITES'
  constructor (message: string, options?: ErrorOptions) {
    super('TooManyInvitesError', TooManyInvitesError.code, message, options)
  }
}

/**
 * Every error the engine raises on purpose is a `ThreadsError`: a `name` to tell the kinds apart in logs and a
 * stable `code` to branch on in code. Codes never change meaning between versions.
 */
export class ThreadsError extends Error {
  readonly code: string

  constructor (name: string, code: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = name
    this.code = code
  }
}

/** A thread ID that is not `version ‖ variant ‖ random(≥16)` with a known version and variant. */
export class InvalidThreadIdError extends ThreadsError {
  static readonly code = 'ERR_INVALID_THREAD_ID'
  constructor (message: string, options?: ErrorOptions) {
    super('InvalidThreadIdError', InvalidThreadIdError.code, message, options)
  }
}

/** Key material of the wrong size or form: a thread key, a symmetric key, an Ed25519 key. */
export class InvalidKeyError extends ThreadsError {
  static readonly code = 'ERR_INVALID_KEY'
  constructor (message: string, options?: ErrorOptions) {
    super('InvalidKeyError', InvalidKeyError.code, message, options)
  }
}

/** Ciphertext that does not open with the key given: wrong key, altered bytes, or truncated. */
export class DecryptionError extends ThreadsError {
  static readonly code = 'ERR_DECRYPTION_FAILED'
  constructor (message: string, options?: ErrorOptions) {
    super('DecryptionError', DecryptionError.code, message, options)
  }
}

/** A signature that does not verify against the key it claims. */
export class InvalidSignatureError extends ThreadsError {
  static readonly code = 'ERR_INVALID_SIGNATURE'
  constructor (message: string, options?: ErrorOptions) {
    super('InvalidSignatureError', InvalidSignatureError.code, message, options)
  }
}

/** Bytes that are not the dag-cbor node they should be, or a node of the wrong shape. */
export class MalformedBlockError extends ThreadsError {
  static readonly code = 'ERR_MALFORMED_BLOCK'
  constructor (message: string, options?: ErrorOptions) {
    super('MalformedBlockError', MalformedBlockError.code, message, options)
  }
}

/** Bytes whose hash is not the CID they were fetched or stored under. */
export class BlockIntegrityError extends ThreadsError {
  static readonly code = 'ERR_BLOCK_INTEGRITY'
  constructor (message: string, options?: ErrorOptions) {
    super('BlockIntegrityError', BlockIntegrityError.code, message, options)
  }
}

/** A block larger than the limit; refused before any decoding work is spent on it. */
export class BlockTooLargeError extends ThreadsError {
  static readonly code = 'ERR_BLOCK_TOO_LARGE'
  constructor (message: string, options?: ErrorOptions) {
    super('BlockTooLargeError', BlockTooLargeError.code, message, options)
  }
}

/** A multiaddr that is not a peer address with a `/thread/<tid>` or `/ipel/<logid>` part as expected. */
export class InvalidAddressError extends ThreadsError {
  static readonly code = 'ERR_INVALID_ADDRESS'
  constructor (message: string, options?: ErrorOptions) {
    super('InvalidAddressError', InvalidAddressError.code, message, options)
  }
}

/** A hybrid logical clock value that is out of range or not of the `[wall, counter]` form. */
export class InvalidClockError extends ThreadsError {
  static readonly code = 'ERR_INVALID_CLOCK'
  constructor (message: string, options?: ErrorOptions) {
    super('InvalidClockError', InvalidClockError.code, message, options)
  }
}

/** A query that is not of the documented form: unknown operator, bad path, uncomparable value, bad skip or limit. */
export class InvalidQueryError extends ThreadsError {
  static readonly code = 'ERR_INVALID_QUERY'
  constructor (message: string, options?: ErrorOptions) {
    super('InvalidQueryError', InvalidQueryError.code, message, options)
  }
}

/** A protocol message that is not of the documented form. */
export class MalformedMessageError extends ThreadsError {
  static readonly code = 'ERR_MALFORMED_MESSAGE'
  constructor (message: string, options?: ErrorOptions) {
    super('MalformedMessageError', MalformedMessageError.code, message, options)
  }
}

/** A protocol message (or its length prefix) over the frame limit; refused before it is buffered. */
export class MessageTooLargeError extends ThreadsError {
  static readonly code = 'ERR_MESSAGE_TOO_LARGE'
  constructor (message: string, options?: ErrorOptions) {
    super('MessageTooLargeError', MessageTooLargeError.code, message, options)
  }
}

/** A request about a thread whose proof does not show the sender holds the thread's service key. */
export class InvalidProofError extends ThreadsError {
  static readonly code = 'ERR_INVALID_PROOF'
  constructor (message: string, options?: ErrorOptions) {
    super('InvalidProofError', InvalidProofError.code, message, options)
  }
}

/** A request to replicate a thread, from a peer this one does not replicate for. */
export class ReplicationRefusedError extends ThreadsError {
  static readonly code = 'ERR_REPLICATION_REFUSED'
  constructor (message: string, options?: ErrorOptions) {
    super('ReplicationRefusedError', ReplicationRefusedError.code, message, options)
  }
}

/** An invite that does not open, does not verify, or whose sealed content disagrees with its envelope. */
export class InvalidInviteError extends ThreadsError {
  static readonly code = 'ERR_INVALID_INVITE'
  constructor (message: string, options?: ErrorOptions) {
    super('InvalidInviteError', InvalidInviteError.code, message, options)
  }
}

/** An invite sealed to some other peer. */
export class InviteNotForUsError extends ThreadsError {
  static readonly code = 'ERR_INVITE_NOT_FOR_US'
  constructor (message: string, options?: ErrorOptions) {
    super('InviteNotForUsError', InviteNotForUsError.code, message, options)
  }
}

/** An invite used, or a Join authored, after the invite's expiry. */
export class InviteExpiredError extends ThreadsError {
  static readonly code = 'ERR_INVITE_EXPIRED'
  constructor (message: string, options?: ErrorOptions) {
    super('InviteExpiredError', InviteExpiredError.code, message, options)
  }
}

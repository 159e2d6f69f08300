import { base32 } from 'multiformats/bases/base32'
import { randomSymmetricKey, SYMMETRIC_KEY_BYTES } from './aead.ts'
import { InvalidKeyError } from './errors.ts'
import { decodeMultibase } from './multibase.ts'

/**
 * A thread's symmetric keys: the service (replica) key that opens records, and, for readers, the read key that
 * opens event headers. Bytes are `service ‖ read` (64) or `service` alone (32); the string is their multibase.
 */
export class ThreadKey {
  readonly service: Uint8Array
  readonly read: Uint8Array | undefined

  private constructor (service: Uint8Array, read: Uint8Array | undefined) {
    this.service = service
    this.read = read
  }

  /** A fresh key with both parts: what a thread's creator holds. */
  static random (): ThreadKey {
    return new ThreadKey(randomSymmetricKey(), randomSymmetricKey())
  }

  static of (service: Uint8Array, read?: Uint8Array): ThreadKey {
    if (service.length !== SYMMETRIC_KEY_BYTES) throw new InvalidKeyError(`a service key has 32 bytes, got ${service.length}`)
    if (read !== undefined && read.length !== SYMMETRIC_KEY_BYTES) throw new InvalidKeyError(`a read key has 32 bytes, got ${read.length}`)
    return new ThreadKey(Uint8Array.from(service), read === undefined ? undefined : Uint8Array.from(read))
  }

  static fromBytes (bytes: Uint8Array): ThreadKey {
    if (bytes.length === SYMMETRIC_KEY_BYTES) return ThreadKey.of(bytes)
    if (bytes.length === 2 * SYMMETRIC_KEY_BYTES) return ThreadKey.of(bytes.subarray(0, SYMMETRIC_KEY_BYTES), bytes.subarray(SYMMETRIC_KEY_BYTES))
    throw new InvalidKeyError(`a thread key has 32 or 64 bytes, got ${bytes.length}`)
  }

  static fromString (text: string): ThreadKey {
    let bytes: Uint8Array
    try {
      bytes = decodeMultibase(text)
    } catch (cause) {
      throw new InvalidKeyError('not a multibase thread key', { cause })
    }
    return ThreadKey.fromBytes(bytes)
  }

  /** True when this key opens event headers and bodies, not only records. */
  get canRead (): boolean {
    return this.read !== undefined
  }

  /** The same thread key with the read part dropped: what a replica is given. */
  serviceOnly (): ThreadKey {
    return new ThreadKey(this.service, undefined)
  }

  get bytes (): Uint8Array {
    if (this.read === undefined) return Uint8Array.from(this.service)
    const out = new Uint8Array(2 * SYMMETRIC_KEY_BYTES)
    out.set(this.service)
    out.set(this.read, SYMMETRIC_KEY_BYTES)
    return out
  }

  toString (): string {
    return base32.encode(this.bytes)
  }

  toJSON (): string {
    return this.toString()
  }
}

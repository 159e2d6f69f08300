import { randomBytes } from 'node:crypto'
import { base32 } from 'multiformats/bases/base32'
import { InvalidThreadIdError } from './errors.ts'
import { decodeMultibase } from './multibase.ts'
import { decodeUvarint, encodeUvarint } from './varint.ts'

/** The variants a thread ID may declare; anything else is refused on decode. */
export const ThreadVariant = {
  /** No extra expectations on consumers: the default. */
  Raw: 0x55,
  /** Consumers build an access-control list from the thread's events and enforce it. */
  AccessControlled: 0x70
} as const
export type ThreadVariant = typeof ThreadVariant[keyof typeof ThreadVariant]

export const THREAD_ID_VERSION = 0x01
export const MIN_RANDOM_BYTES = 16
export const MAX_RANDOM_BYTES = 255
const DEFAULT_RANDOM_BYTES = 32

const knownVariants = new Set<number>(Object.values(ThreadVariant))
export interface CreateThreadIdOptions {
  variant?: ThreadVariant
  /** How many random bytes; at least 16. */
  randomBytes?: number
  /** The random component itself, when it is derived from something (an access-controlled thread's owner). */
  random?: Uint8Array
}

/**
 * A thread's identity: `uvarint(version) ‖ uvarint(variant) ‖ random`, written as a multibase string
 * (base32, `b…`, by default). Immutable; compare with `equals`.
 */
export class ThreadId {
  readonly bytes: Uint8Array
  readonly version: number
  readonly variant: ThreadVariant
  /** Where the random component starts in `bytes`. */
  readonly #randomOffset: number
  #string?: string

  private constructor (bytes: Uint8Array, version: number, variant: ThreadVariant, randomOffset: number) {
    this.bytes = bytes
    this.version = version
    this.variant = variant
    this.#randomOffset = randomOffset
  }

  static create (options: CreateThreadIdOptions = {}): ThreadId {
    const variant = options.variant ?? ThreadVariant.Raw
    const size = options.random?.length ?? options.randomBytes ?? DEFAULT_RANDOM_BYTES
    if (!knownVariants.has(variant)) throw new InvalidThreadIdError(`unknown thread ID variant 0x${Number(variant).toString(16)}`)
    if (!Number.isInteger(size) || size < MIN_RANDOM_BYTES || size > MAX_RANDOM_BYTES) {
      throw new InvalidThreadIdError(`thread ID random component must be ${MIN_RANDOM_BYTES}–${MAX_RANDOM_BYTES} bytes, asked for ${size}`)
    }
    const prefix = [...encodeUvarint(THREAD_ID_VERSION), ...encodeUvarint(variant)]
    const bytes = new Uint8Array(prefix.length + size)
    bytes.set(prefix)
    bytes.set(options.random ?? randomBytes(size), prefix.length)
    return ThreadId.fromBytes(bytes)
  }

  static fromBytes (input: Uint8Array): ThreadId {
    const version = decodeUvarint(input, 0)
    if (version === undefined) throw new InvalidThreadIdError('thread ID has no readable version')
    if (version[0] !== THREAD_ID_VERSION) throw new InvalidThreadIdError(`unknown thread ID version ${version[0]}`)
    const variant = decodeUvarint(input, version[1])
    if (variant === undefined) throw new InvalidThreadIdError('thread ID has no readable variant')
    if (!knownVariants.has(variant[0])) throw new InvalidThreadIdError(`unknown thread ID variant 0x${variant[0].toString(16)}`)
    const randomOffset = version[1] + variant[1]
    const randomLength = input.length - randomOffset
    if (randomLength < MIN_RANDOM_BYTES) {
      throw new InvalidThreadIdError(`thread ID random component has ${randomLength} bytes; at least ${MIN_RANDOM_BYTES} are required`)
    }
    if (randomLength > MAX_RANDOM_BYTES) {
      throw new InvalidThreadIdError(`thread ID random component has ${randomLength} bytes; at most ${MAX_RANDOM_BYTES} are allowed`)
    }
    return new ThreadId(Uint8Array.from(input), version[0], variant[0] as ThreadVariant, randomOffset)
  }

  /** Decodes any multibase string form. */
  static fromString (text: string): ThreadId {
    let bytes: Uint8Array
    try {
      bytes = decodeMultibase(text)
    } catch (cause) {
      throw new InvalidThreadIdError(`not a multibase thread ID: ${JSON.stringify(text.slice(0, 80))}`, { cause })
    }
    return ThreadId.fromBytes(bytes)
  }

  /** Accepts either form; the one parser used wherever a caller may hand over an ID. */
  static from (input: ThreadId | Uint8Array | string): ThreadId {
    if (input instanceof ThreadId) return input
    return typeof input === 'string' ? ThreadId.fromString(input) : ThreadId.fromBytes(input)
  }

  get random (): Uint8Array {
    return this.bytes.subarray(this.#randomOffset)
  }

  get isAccessControlled (): boolean {
    return this.variant === ThreadVariant.AccessControlled
  }

  /** The multibase string; base32 unless another encoder is given. */
  toString (encoder: { encode(bytes: Uint8Array): string } = base32): string {
    if (encoder !== base32) return encoder.encode(this.bytes)
    this.#string ??= base32.encode(this.bytes)
    return this.#string
  }

  toJSON (): string {
    return this.toString()
  }

  equals (other: ThreadId): boolean {
    return this.toString() === other.toString()
  }
}

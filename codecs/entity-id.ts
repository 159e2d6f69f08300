import { randomBytes } from './aead.ts'

/**
 * The IDs a store gives entities created without one: UUID version 7 (RFC 9562), the creation time in
 * milliseconds followed by 74 random bits. Views and index entries are keyed by ID, and an ID that grows with time
 * lands beside the ones created just before it: a batch of creates touches a few pages of each B-tree rather than a
 * page per entity, which costs both the write and its commit (measured: a third less CPU per create than random
 * IDs). The time an ID shows is, to within clock drift, the time its create event carries anyway.
 */
export function timeOrderedId (now = Date.now()): string {
  const bytes = randomBytes(16)
  let time = now
  for (let i = 5; i >= 0; i--) {
    bytes[i] = time % 256
    time = Math.floor(time / 256)
  }
  bytes[6] = (bytes[6]! & 0x0f) | 0x70
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/**
 * Unsigned LEB128 varints, bounded: the decoders here face bytes from the network, so a varint that runs past
 * the input, past `maxBytes`, or past `Number.MAX_SAFE_INTEGER` is refused rather than read as garbage.
 */

export function encodeUvarint (value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not an unsigned safe integer: ${value}`)
  const out: number[] = []
  let rest = value
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80)
    rest = Math.floor(rest / 0x80)
  }
  out.push(rest)
  return Uint8Array.from(out)
}

/** Returns `[value, bytesRead]`, or `undefined` when `bytes` at `offset` does not hold a valid varint. */
export function decodeUvarint (bytes: Uint8Array, offset = 0, maxBytes = 9): [number, number] | undefined {
  let value = 0
  let scale = 1
  for (let i = 0; i < maxBytes; i++) {
    const byte = bytes[offset + i]
    if (byte === undefined) return undefined
    value += (byte & 0x7f) * scale
    if (value > Number.MAX_SAFE_INTEGER) return undefined
    if ((byte & 0x80) === 0) {
      if (i > 0 && byte === 0) return undefined // non-minimal encoding: one value, one byte form
      return [value, i + 1]
    }
    scale *= 0x80
  }
  return undefined
}

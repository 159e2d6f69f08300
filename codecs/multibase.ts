import { bases } from 'multiformats/basics'
import type { MultibaseCodec } from 'multiformats'

const codecsByPrefix = new Map<string, MultibaseCodec<string>>(
  Object.values(bases as Record<string, MultibaseCodec<string>>).map(codec => [codec.prefix, codec])
)

/** Decodes a string in any multibase encoding multiformats knows; throws on an unknown prefix or bad digits. */
export function decodeMultibase (text: string): Uint8Array {
  // a prefix is one code point, and base256emoji's (🚀) takes two UTF-16 units
  const first = text.codePointAt(0)
  const prefix = first === undefined ? '' : String.fromCodePoint(first)
  const codec = codecsByPrefix.get(prefix)
  if (codec === undefined) throw new Error(`unknown multibase prefix ${JSON.stringify(prefix)}`)
  return codec.decoder.decode(text)
}

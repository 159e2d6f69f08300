import { bases } from 'multiformats/basics'
import type { MultibaseCodec } from 'multiformats'

const codecsByPrefix = new Map<string, MultibaseCodec<string>>(
  Object.values(bases as Record<string, MultibaseCodec<string>>).map(codec => [codec.prefix, codec])
)

/** Decodes a string in any multibase encoding multiformats knows; throws on an unknown prefix or bad digits. */
export function decodeMultibase (text: string): Uint8Array {
  const codec = codecsByPrefix.get(text.charAt(0))
  if (codec === undefined) throw new Error(`unknown multibase prefix ${JSON.stringify(text.charAt(0))}`)
  return codec.decoder.decode(text)
}

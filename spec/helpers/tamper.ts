import { cidOf, type Block } from '../../codecs/block.ts'

/** The same block with one byte flipped, named by the CID its new bytes hash to (as a forger would send it). */
export function flipByte (block: Block, index: number): Block {
  const bytes = Uint8Array.from(block.bytes)
  bytes[index] = bytes[index]! ^ 0x01
  return { cid: cidOf(bytes), bytes }
}

import { verifiedBlock, type Block, type CID } from '../codecs/block.ts'
import { BlockNotFoundError } from './errors.ts'
import type { Storage } from './storage.ts'

/**
 * CID → bytes. Blocks are immutable and content-addressed, so a put of a block already held is a no-op and reads
 * need no transaction. Reads re-check nothing by default (the bytes were verified before they were put); `verify`
 * re-hashes, for end-to-end checks of what is on disk.
 */
export interface BlockStore {
  /** Writes inside the caller's transaction, or as its own when there is none. */
  put (block: Block): void
  get (cid: CID): Block | undefined
  /** Like `get`, but throws `BlockNotFoundError` when the block is not held. */
  require (cid: CID): Block
  /** Reads and re-hashes; throws `BlockIntegrityError` when the stored bytes no longer match the CID. */
  verify (cid: CID): Block
  has (cid: CID): boolean
  delete (cid: CID): void
}

export function createBlockStore (storage: Storage): BlockStore {
  const db = storage.binaryDatabase('blocks')
  const store: BlockStore = {
    put (block) {
      db.putSync(block.cid.bytes, block.bytes)
    },
    get (cid) {
      const bytes = db.getBinary(cid.bytes)
      return bytes === undefined ? undefined : { cid, bytes }
    },
    require (cid) {
      const block = store.get(cid)
      if (block === undefined) throw new BlockNotFoundError(`block ${cid.toString()} is not held here`)
      return block
    },
    verify (cid) {
      const block = store.require(cid)
      return verifiedBlock(cid, block.bytes)
    },
    has (cid) {
      return db.doesExist(cid.bytes)
    },
    delete (cid) {
      db.removeSync(cid.bytes)
    }
  }
  return store
}

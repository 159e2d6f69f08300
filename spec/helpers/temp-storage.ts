import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStorage, type Storage } from '../../storage/storage.ts'

/** A real LMDB environment in a fresh temporary directory, removed again by `dispose`. */
export interface TempStorage {
  readonly storage: Storage
  readonly path: string
  /** Closes and reopens the same directory, as a restarted process would. */
  reopen (): Promise<Storage>
  dispose (): Promise<void>
}

export async function tempStorage (prefix = 'threads-spec-'): Promise<TempStorage> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  let storage = await openStorage({ path })
  return {
    get storage () { return storage },
    path,
    async reopen () {
      await storage.close()
      storage = await openStorage({ path })
      return storage
    },
    async dispose () {
      await storage.close()
      await rm(path, { recursive: true, force: true })
    }
  }
}

/** Runs `body` with a fresh temporary environment, and removes it afterwards whatever `body` did. */
export async function withTempStorage<T> (body: (temp: TempStorage) => Promise<T>, prefix?: string): Promise<T> {
  const temp = await tempStorage(prefix)
  try {
    return await body(temp)
  } finally {
    await temp.dispose()
  }
}

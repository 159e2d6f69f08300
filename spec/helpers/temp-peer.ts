import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPeer, type Peer, type PeerInit } from '../../actors/peer.ts'

/** A peer on a real LMDB environment in a fresh temporary directory, removed again by `dispose`. */
export interface TempPeer {
  readonly peer: Peer
  readonly path: string
  /** Closes the peer and opens the same directory again, as a restarted process would (with `changes` to its options). */
  reopen (changes?: Partial<Omit<PeerInit, 'path'>>): Promise<Peer>
  dispose (): Promise<void>
}

export async function tempPeer (options: Omit<PeerInit, 'path'> = {}, prefix = 'threads-store-spec-'): Promise<TempPeer> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  let peer: Peer
  try {
    peer = await createPeer({ ...options, path })
  } catch (error) {
    await rm(path, { recursive: true, force: true })
    throw error
  }
  let closed = false
  return {
    get peer () { return peer },
    path,
    async reopen (changes = {}) {
      await peer.close()
      peer = await createPeer({ ...options, ...changes, path })
      return peer
    },
    async dispose () {
      if (closed) return
      closed = true
      try {
        await peer.close()
      } finally {
        await rm(path, { recursive: true, force: true })
      }
    }
  }
}

/** Every entry of the store's LMDB databases, in a comparable form: what "nothing changed" is checked against. */
export function dumpStore (peer: Peer, names: readonly string[] = ['views', 'events', 'log-records', 'heads']): string {
  const dump: unknown[] = []
  for (const name of names) {
    for (const { key, value } of peer.storage.valueDatabase<unknown>(name).getRange()) dump.push([name, key, value])
  }
  return JSON.stringify(dump, (_key, value: unknown) =>
    value instanceof Uint8Array ? Buffer.from(value).toString('hex') : typeof value === 'bigint' ? `${value}n` : value)
}

/** Resolves with `promise`, or rejects after `ms` saying what never arrived. */
export async function within<T> (promise: Promise<T>, what: string, ms = 2000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Polls `condition` until it holds; rejects after `ms` naming `what`. */
export async function until (condition: () => boolean | Promise<boolean>, what: string, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

/** The TCP port a peer listens on, so a restart can listen where it did before. */
export function portOf (peer: Peer): number {
  const tcp = peer.addresses[0]?.getComponents().find(component => component.name === 'tcp')
  if (tcp?.value === undefined) throw new Error(`peer ${peer.peerId} listens on no TCP port`)
  return Number(tcp.value)
}

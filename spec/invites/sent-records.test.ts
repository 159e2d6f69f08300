import { after, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInvitations } from '../../actors/invitations.ts'
import type { Network } from '../../actors/network.ts'
import type { ThreadRuntime } from '../../actors/thread-runtime.ts'
import { Ed25519PrivateKey } from '../../codecs/ed25519.ts'
import { ownedThreadId } from '../../codecs/ownership.ts'
import { peerIdentity } from '../../net/node.ts'
import { createLogStore } from '../../storage/log-store.ts'
import { openStorage } from '../../storage/storage.ts'
import { createStoreEngine } from '../../storage/store-engine.ts'

/**
 * What the inviter keeps of an invite while answers and deliveries cross, over real LMDB: the thread's runtime and
 * the network are stand-ins, so the test decides when a delivery lands and keeps the withdrawal from ever landing.
 */

const paths: string[] = []
after(async () => { await Promise.all(paths.map(async path => { await rm(path, { recursive: true, force: true }) })) })

it('keeps a decline on the invite\'s record when the delivery lands in the same turn', async () => {
  const path = await mkdtemp(join(tmpdir(), 'threads-invites-spec-'))
  paths.push(path)
  const storage = await openStorage({ path })
  const logs = createLogStore({ storage })
  const engine = createStoreEngine({ storage, logs })
  const identity = await peerIdentity(storage)
  const thread = await logs.createThread({ id: ownedThreadId(identity.publicKey.logId, new Uint8Array(randomBytes(16))) })
  const log = await logs.createLog(thread.id)
  const invitee = Ed25519PrivateKey.generate().publicKey.logId
  const delivery = Promise.withResolvers<void>()
  const runtime = { logId: log.id, commit: async () => undefined } as unknown as ThreadRuntime
  const invitations = createInvitations({
    storage,
    logs,
    engine,
    identity,
    network: () => ({ send: async () => { await delivery.promise } }) as unknown as Network,
    timing: { retryMs: 60_000, maxAttempts: 8 },
    runtimeOf: () => runtime,
    // The withdrawal never lands: the peer stops before it does.
    openRuntime: async () => await new Promise<ThreadRuntime>(() => {}),
    adopt: async () => undefined
  })
  try {
    const invite = await invitations.invite(thread.id, invitee)
    const sent = storage.valueDatabase<{ delivered: boolean, declined?: boolean }>('sent-invites')
    delivery.resolve()
    await Promise.resolve()
    await invitations.reply(thread.id, invite.id, 'decline', invitee)
    await storage.flushed()
    assert.equal(invitations.status(invite.id)?.state, 'withdrawing grant')
    const record = sent.get(invite.id)
    assert.equal(record?.delivered, true, 'the delivery is on the record')
    assert.equal(record?.declined, true, 'and so is the decline: a restart takes the withdrawal up again')
  } finally {
    await invitations.stop()
    await storage.close()
  }
})

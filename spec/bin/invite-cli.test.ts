import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { json, startDaemon, threads } from '../helpers/cli.ts'

/** A free TCP port on 127.0.0.1, so the inviting peer listens where its invite says it does, run after run. */
async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => { resolve(port) })
    })
  })
}

describe('invites from the threads command', () => {
  let dir: string
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'threads-invite-cli-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('invites a peer into an access-controlled store, which joins while the inviter runs as a daemon; the ACL shows it', async () => {
    const owner = join(dir, 'owner')
    const guest = join(dir, 'guest')
    const listen = `/ip4/127.0.0.1/tcp/${await freePort()}`
    const store = json<{ id: string }>(await threads('new-store', '--access-controlled', '--path', owner, '--json'))
    const { peerId } = json<{ peerId: string }>(await threads('id', '--path', guest, '--json'))
    const invited = json<{ id: string, state: string, invite: string }>(await threads('invite', store.id, peerId, '--wait', '300', '--listen', listen, '--path', owner, '--json'))
    assert.equal(invited.state, 'awaiting delivery', 'the guest is not running, so the invite waits')

    const daemon = await startDaemon(owner, listen)
    try {
      const joined = json<{ id: string, logId: string }>(await threads('join', invited.invite, '--path', guest, '--json'))
      assert.equal(joined.id, store.id)
      assert.ok(joined.logId.startsWith('12D3KooW'))
      const replayed = await threads('join', invited.invite, '--path', guest, '--json')
      assert.equal(replayed.code, 1)
      assert.equal(JSON.parse(replayed.stderr).code, 'ERR_INVITE_REPLAYED')
    } finally {
      daemon.process.kill('SIGTERM')
      await daemon.exited
    }
    const acl = json<{ default: string, peers: Record<string, string[]> }>(await threads('acl', store.id, '--path', owner, '--json'))
    assert.deepEqual(acl.peers[peerId], ['write'])
    const revoked = json<{ peers: Record<string, string[]> }>(await threads('acl', store.id, 'revoke', peerId, 'write', '--path', owner, '--json'))
    assert.deepEqual(revoked.peers[peerId], [], 'named, with every role revoked')
    const bad = await threads('acl', store.id, 'grant', peerId, 'fly', '--path', owner, '--json')
    assert.equal(bad.code, 2)
  })
})

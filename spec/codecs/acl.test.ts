import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { seededRandom, shuffled } from '../helpers/seeded-random.ts'
import { aclOf, allows, effectiveRoles, rolesOf, ROLES, type AclOperation, type Role } from '../../codecs/acl.ts'

const grant = (tag: string, roles: Role[], observed: string[] = []): AclOperation => ({ tag, kind: 'grant', roles, observed })
const revoke = (tag: string, roles: Role[], observed: string[] = []): AclOperation => ({ tag, kind: 'revoke', roles, observed })

/**
 * Operations by several admins on several peers, each admin seeing what it authored and, now and then, what the
 * others had authored up to some point: causally consistent histories with plenty of concurrency.
 */
function history (next: () => number): Array<{ peer: string, operation: AclOperation }> {
  const admins = ['a', 'b', 'c']
  const peers = ['p1', 'p2']
  const all: Array<{ peer: string, operation: AclOperation, by: string }> = []
  const seen = new Map(admins.map(admin => [admin, new Set<number>()]))
  for (let i = 0; i < 12; i++) {
    const by = admins[Math.floor(next() * admins.length)]!
    const known = seen.get(by)!
    if (next() < 0.5) for (let j = 0; j < all.length; j++) if (next() < 0.6) known.add(j)
    const peer = peers[Math.floor(next() * peers.length)]!
    const roles = ROLES.filter(() => next() < 0.4)
    if (roles.length === 0) roles.push('write')
    const observed = [...known].filter(j => all[j]!.peer === peer).map(j => all[j]!.operation.tag)
    const tag = `${i}`
    all.push({ peer, by, operation: next() < 0.5 ? grant(tag, roles, observed) : revoke(tag, roles, observed) })
    known.add(all.length - 1)
  }
  return all.map(({ peer, operation }) => ({ peer, operation }))
}

describe('the ACL CRDT', () => {
  it('grants, and a revoke that saw the grant takes it back', () => {
    assert.deepEqual(rolesOf([grant('1', ['write'])]), ['write'])
    assert.deepEqual(rolesOf([grant('1', ['write', 'delete']), revoke('2', ['delete'], ['1'])]), ['write'])
  })

  it('lets a concurrent revoke beat a grant', () => {
    assert.deepEqual(rolesOf([grant('1', ['read']), revoke('2', ['read'])]), [])
    assert.deepEqual(rolesOf([revoke('2', ['read']), grant('1', ['read'])]), [])
  })

  it('lets a grant that saw the revoke win again', () => {
    assert.deepEqual(rolesOf([grant('1', ['read']), revoke('2', ['read'], ['1']), grant('3', ['read'], ['1', '2'])]), ['read'])
  })

  it('keeps a grant the revoke had not seen out, since removal wins', () => {
    assert.deepEqual(rolesOf([grant('1', ['write']), grant('2', ['write']), revoke('3', ['write'], ['1'])]), [])
  })

  it('gives the same ACL for any order of the same operations (200 seeded histories × 10 orders)', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const next = seededRandom(seed)
      const operations = history(next)
      const expected = JSON.stringify(aclOf('no-access', operations))
      for (let order = 0; order < 10; order++) {
        assert.equal(JSON.stringify(aclOf('no-access', shuffled(operations, next))), expected, `seed ${seed}, order ${order}`)
      }
    }
  })

  it('names roles by what they bring: write reads and replicates, delete replicates', () => {
    assert.ok(allows(['write'], 'read') && allows(['write'], 'replicate') && allows(['read'], 'replicate'))
    assert.ok(allows(['delete'], 'replicate') && !allows(['delete'], 'write') && !allows(['read'], 'write') && !allows([], 'replicate'))
    assert.deepEqual(effectiveRoles(undefined, 'read'), ['read'])
    assert.deepEqual(effectiveRoles([], 'no-access'), [])
    assert.deepEqual(effectiveRoles([], 'write'), [], 'a peer everything was revoked from does not fall back to the default')
    assert.deepEqual(aclOf('read', [{ peer: 'p', operation: grant('1', ['write']) }, { peer: 'p', operation: revoke('2', ['write'], ['1']) }]).peers, { p: [] })
    assert.deepEqual(effectiveRoles(['write'], 'read'), ['write'])
  })
})

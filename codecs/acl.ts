/**
 * Access-control lists as a CRDT (the paper's §Access Control): an observed-remove map from peer IDs to
 * remove-wins observed-remove sets of roles. Every grant or revoke is an operation with a unique tag (where it
 * sits in the thread's event order) that names the tags of the operations on the same peer its author had seen.
 * An operation some later one has seen is superseded; of the operations nobody has seen past, a revoke beats a
 * grant. The state is a function of the set of operations alone, so any order of arrival gives the same ACL.
 */

export const ROLES = ['replicate', 'read', 'write', 'delete'] as const
export type Role = typeof ROLES[number]
/** The role of a peer the ACL names nowhere: `no-access`, or one of the roles. */
export type DefaultRole = Role | 'no-access'

/** The roles each role brings with it (write reads, reading replicates, deleting replicates). */
const IMPLIED: Record<Role, readonly Role[]> = {
  replicate: ['replicate'],
  read: ['read', 'replicate'],
  write: ['write', 'read', 'replicate'],
  delete: ['delete', 'replicate']
}

export function isRole (value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value)
}

export function isDefaultRole (value: unknown): value is DefaultRole {
  return value === 'no-access' || isRole(value)
}

/** True when holding `roles` allows what `needed` allows. */
export function allows (roles: Iterable<Role>, needed: Role): boolean {
  for (const role of roles) if (IMPLIED[role].includes(needed)) return true
  return false
}

export interface AclOperation {
  /** Unique among the thread's operations. */
  readonly tag: string
  readonly kind: 'grant' | 'revoke'
  readonly roles: readonly Role[]
  /** Tags of earlier operations on the same peer that the author had seen; they count for the roles both name. */
  readonly observed: readonly string[]
}

/** The roles the operations on one peer leave it with. */
export function rolesOf (operations: Iterable<AclOperation>): Role[] {
  const all = [...operations]
  const held: Role[] = []
  for (const role of ROLES) {
    // An operation is superseded for a role only by a later one about that same role.
    const touching = all.filter(operation => operation.roles.includes(role))
    const seen = new Set(touching.flatMap(operation => operation.observed))
    const frontier = touching.filter(operation => !seen.has(operation.tag))
    if (frontier.length > 0 && frontier.every(operation => operation.kind === 'grant')) held.push(role)
  }
  return held
}

/** An ACL as the paper writes it: the default role, and the roles of every peer it names. */
export interface AclDocument {
  readonly default: DefaultRole
  readonly peers: { readonly [peerId: string]: readonly Role[] }
}

/** The ACL the operations leave, grouped by peer. A peer every role was revoked from stays named, with none. */
export function aclOf (defaultRole: DefaultRole, operations: Iterable<{ peer: string, operation: AclOperation }>): AclDocument {
  const byPeer = new Map<string, AclOperation[]>()
  for (const { peer, operation } of operations) {
    let list = byPeer.get(peer)
    if (list === undefined) byPeer.set(peer, list = [])
    list.push(operation)
  }
  const peers: { [peerId: string]: Role[] } = {}
  for (const peer of [...byPeer.keys()].sort()) {
    peers[peer] = rolesOf(byPeer.get(peer)!)
  }
  return { default: defaultRole, peers }
}

/**
 * The roles a peer holds under an ACL: those it is named with (none, once all were revoked: a revoke never hands
 * the default back), else the default's.
 */
export function effectiveRoles (peerRoles: readonly Role[] | undefined, defaultRole: DefaultRole): readonly Role[] {
  if (peerRoles !== undefined) return peerRoles
  return defaultRole === 'no-access' ? [] : [defaultRole]
}

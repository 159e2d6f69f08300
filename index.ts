/**
 * threads: the Threads protocol and its event-sourced peer-to-peer database.
 * Everything a user may depend on is exported here, and only here.
 */

export {
  ThreadsError,
  InvalidThreadIdError,
  InvalidKeyError,
  DecryptionError,
  InvalidSignatureError,
  MalformedBlockError,
  BlockIntegrityError,
  BlockTooLargeError,
  InvalidAddressError,
  InvalidClockError,
  InvalidInviteError,
  InviteNotForUsError,
  InviteExpiredError
} from './codecs/errors.ts'
export { ThreadId, ThreadVariant, THREAD_ID_VERSION, MIN_RANDOM_BYTES, MAX_RANDOM_BYTES, type CreateThreadIdOptions } from './codecs/thread-id.ts'
export { ThreadKey } from './codecs/thread-key.ts'
export { Ed25519PrivateKey, Ed25519PublicKey } from './codecs/ed25519.ts'
export { encrypt, decrypt, randomSymmetricKey, SYMMETRIC_KEY_BYTES, AEAD_OVERHEAD } from './codecs/aead.ts'
export { seal, open as openSealed } from './codecs/sealed-box.ts'
export {
  HybridClock, compareTimestamps, compareEventTimes,
  type Timestamp, type EventTime, type HybridClockInit
} from './codecs/hlc.ts'
export { CID, cidOf, encodeBlock, verifiedBlock, type Block } from './codecs/block.ts'
export {
  createRecord, openRecord, openEvent, openHeader, openBody, verifyRecordSignature, verifyRecordBlocks,
  readRecordContent, recordAuthor, assertBlockLimits, DEFAULT_BLOCK_LIMITS,
  type BlockLimits, type RecordBlocks, type RecordNode, type EventNode, type EventHeader,
  type CreateRecordInput, type CreatedRecord, type VerifyOptions, type RecordContent
} from './codecs/record.ts'
export {
  threadAddress, parseThreadAddress, logAddress, parseLogAddress, peerIdOf, multiaddr, CODE_THREAD, CODE_IPEL,
  type Multiaddr, type ThreadAddress, type LogAddress
} from './codecs/address.ts'

export {
  StorageClosedError,
  UnknownThreadError,
  UnknownLogError,
  ConflictingKeyError,
  MissingKeyError,
  ReplayedRecordError,
  MissingAncestorError,
  ForkedLogError,
  BlockNotFoundError,
  CorruptLogError,
  InvalidArgumentError,
  AccessDeniedError,
  JoinMismatchError,
  DuplicateJoinError,
  InviteReplayedError,
  InvalidGenesisError,
  ReadOnlyStoreError,
  TooManyInvitesError
} from './storage/errors.ts'
export { openStorage, type Storage, type StorageInit, type BinaryDatabase, type ValueDatabase, type StorageKey } from './storage/storage.ts'
export { createBlockStore, type BlockStore } from './storage/block-store.ts'
export { createHeadBook, EMPTY_HEAD, EMPTY_EDGE, type Head, type HeadBook } from './storage/head-book.ts'
export { createKeyBook, type KeyBook } from './storage/key-book.ts'
export {
  createAddrBook, TEMP_ADDR_TTL, RECENTLY_CONNECTED_ADDR_TTL, ADDRESS_TTL, PERMANENT_ADDR_TTL, CONNECTED_ADDR_TTL,
  type AddrBook, type AddrBookInit, type AddrChange, type AddrChangeType, type AddrStream, type AddrStreamOptions
} from './storage/addr-book.ts'
export { createMetadataBook, type MetadataBook, type MetadataValue, type JsonValue } from './storage/metadata-book.ts'
export {
  createLogStore,
  type LogStore, type LogStoreInit, type LogInfo, type ThreadInfo, type StoredRecord, type ReadLogOptions,
  type VerifiedLog, type CreateThreadOptions, type AddLogOptions, type AcceptedRecord
} from './storage/log-store.ts'

export {
  jsonPatchCodec, draftUpdate, canonical, encodeRecordBody, parseRecordBody, toHex, fromHex,
  type EventCodec, type Action, type ActionType, type Entity, type JsonValue as EntityValue, type EntityEvent, type CollectionEvent,
  type StoreEvent, type RecordBody, type ParsedRecordBody, type IndexDefinition, type Operation,
  type ControlEvent, type InviteEvent, type JoinEvent, type GenesisEvent, type AclEvent, type AclTarget
} from './codecs/event-codec.ts'
export { ROLES, isRole, allows, rolesOf, aclOf, effectiveRoles, type Role, type DefaultRole, type AclDocument, type AclOperation } from './codecs/acl.ts'
export { Invite, INVITE_ROLES, type InviteRole, type InviteContent, type InvitedLog } from './codecs/invite.ts'
export { ownedThreadId, ownsThread, signLogBinding, verifyLogBinding } from './codecs/ownership.ts'
export { createAccessStore, type AccessStore, type AccessOutcome, type StoredInvite, type Refusal } from './storage/access-store.ts'
export type { InviteOptions, ReceivedInvite, InvitationStatus, InvitationTiming } from './actors/invitations.ts'
export { dispatcherMachine } from './machines/dispatcher.machine.ts'
export { listenerMachine } from './machines/listener.machine.ts'
export { logSyncMachine } from './machines/log-sync.machine.ts'
export { reducerMachine } from './machines/reducer.machine.ts'
export { threadMachine } from './machines/thread.machine.ts'
export { transactionMachine } from './machines/transaction.machine.ts'
export { inviterMachine, type InviterInput, type InviterContext, type InviterEvent, type InviterResume } from './machines/inviter.machine.ts'
export { inviteeMachine, type InviteeInput, type InviteeContext, type InviteeEvent } from './machines/invitee.machine.ts'
export { Query, Where, type QueryJSON, type Criterion, type Operator, type Comparable, type Sort } from './codecs/query.ts'
export { InvalidQueryError } from './codecs/errors.ts'
export {
  UnknownCollectionError, InvalidSchemaError, SchemaViolationError, EntityExistsError, EntityNotFoundError,
  UniqueViolationError, TransactionClosedError, TransactionTimeoutError, NestedWriteError, EventsMissingError, NetworkUnavailableError
} from './storage/errors.ts'
export { createStoreEngine, type StoreEngine, type StoreEngineInit, type Change, type Committed } from './storage/store-engine.ts'
export { compareEventKeys, type EventKey, type PersistedEvent } from './storage/event-store.ts'
export type { CollectionDefinition, QueryPlan } from './storage/view-store.ts'
export { createPeer, DEFAULT_SYNC_TIMING, type Peer, type PeerInit, type NewStoreOptions, type SyncTiming } from './actors/peer.ts'
export {
  createTraceRecorder, traceEntryOf, actorName,
  type TraceHeader, type TraceEntry, type TraceEvent, type TraceRecorder, type TraceRecorderInit
} from './actors/trace.ts'
export {
  type Store, type Collection, type CollectionReader, type CollectionWriter, type KeyValueStore, type DocumentStore,
  type RegisterOptions, type QueryInput, type AclHandle, type StoreAcl
} from './actors/store.ts'
export type { StoreChange, ListenFilter, ChangeCallback, ListenerErrorCallback, TransactionOptions } from './actors/thread-runtime.ts'
export { Client, WriteTransaction, ReadTransaction, type EntitiesReply, type EntityReply, type ListenReply } from './actors/client.ts'
export { MalformedMessageError, MessageTooLargeError, InvalidProofError, ReplicationRefusedError } from './codecs/errors.ts'
export {
  PROTOCOL, MAX_FRAME_BYTES, MAX_RECORDS_PER_PAGE, frame, readFrame, decodeRequest, decodeResponse, serviceKeyProof, verifyServiceKeyProof,
  type Request, type Response, type LogRange, type LogSummary, type ThreadEdge, type InviteAnswer
} from './codecs/wire.ts'
export { RequestFailedError, DEFAULT_REQUEST_LIMITS, type RequestLimits, type RefusalCounts } from './net/requests.ts'
export { DEFAULT_MISBEHAVIOUR_LIMITS, type MisbehaviourLimits } from './net/penalties.ts'
export { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits, type ThreadsNode } from './net/node.ts'

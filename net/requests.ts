import type { Connection, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { ThreadsError } from '../codecs/errors.ts'
import {
  decodeRequest, decodeResponse, frame, readFrame, MAX_FRAME_BYTES, PROTOCOL, type Request, type Response
} from '../codecs/wire.ts'
import type { ThreadsNode } from './node.ts'

/**
 * One request and one response per stream over `/threads/1.0.0`. Both sides read at most one frame, refuse a
 * frame over the limit as soon as its length is known, and give up on a stream that stalls. What the server
 * refuses is counted per peer, and the server goes on serving everyone else.
 */

export interface RequestLimits {
  /** Longest time to read a whole message, from the stream's start. */
  timeoutMs: number
  maxFrameBytes: number
  /** Streams of this protocol one peer may have open at once. */
  maxStreamsPerPeer: number
}

export const DEFAULT_REQUEST_LIMITS: Readonly<RequestLimits> = Object.freeze({
  timeoutMs: 10_000,
  maxFrameBytes: MAX_FRAME_BYTES,
  maxStreamsPerPeer: 32
})

/** A request that did not get its answer: the stream stalled, closed early, or the answer was an error. */
export class RequestFailedError extends ThreadsError {
  static readonly code = 'ERR_REQUEST_FAILED'
  /** The code the remote peer answered with, when it answered with an error. */
  readonly remoteCode?: string
  constructor (message: string, remoteCode?: string, options?: ErrorOptions) {
    super('RequestFailedError', RequestFailedError.code, message, options)
    this.remoteCode = remoteCode
  }
}

/** Answers one request from `peer`; a thrown `ThreadsError` goes back as an `error` response with its code. */
export type RequestHandler = (request: Request, peer: PeerId) => Promise<Response>

/** What the server refused, per peer and per error code. */
export type RefusalCounts = Map<string, Map<string, number>>

async function readOneFrame (stream: Stream, limits: RequestLimits, signal: AbortSignal): Promise<Uint8Array> {
  let buffer = new Uint8Array(0)
  const onAbort = (): void => { stream.abort(new RequestFailedError(`no whole message within ${limits.timeoutMs} ms`)) }
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    for await (const chunk of stream) {
      const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
      const joined = new Uint8Array(buffer.length + bytes.length)
      joined.set(buffer)
      joined.set(bytes, buffer.length)
      buffer = joined
      const read = readFrame(buffer, limits.maxFrameBytes)
      if (read !== undefined) return read.bytes
    }
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
  if (signal.aborted) throw new RequestFailedError(`no whole message within ${limits.timeoutMs} ms`)
  throw new RequestFailedError('the stream ended before a whole message arrived')
}

export interface RequestServer {
  readonly refusals: RefusalCounts
  /** Counts a refusal made outside a request (a bad gossip message, say) with the others. */
  refuse (peer: string, code: string): void
  stop (): Promise<void>
}

/** Told of every refusal as it is counted (to disconnect peers that misbehave). */
export type OnRefusal = (peer: string, code: string) => void

export async function serveRequests (node: ThreadsNode, handler: RequestHandler, limits: RequestLimits = DEFAULT_REQUEST_LIMITS, onRefusal?: OnRefusal): Promise<RequestServer> {
  const refusals: RefusalCounts = new Map()
  const refuse = (peer: string, code: string): void => {
    const byCode = refusals.get(peer) ?? new Map<string, number>()
    byCode.set(code, (byCode.get(code) ?? 0) + 1)
    refusals.set(peer, byCode)
    onRefusal?.(peer, code)
  }
  await node.handle(PROTOCOL, async (stream: Stream, connection: Connection) => {
    const peer = connection.remotePeer
    const signal = AbortSignal.timeout(limits.timeoutMs)
    let response: Response
    try {
      const request = decodeRequest(await readOneFrame(stream, limits, signal))
      response = await handler(request, peer)
    } catch (error) {
      const code = error instanceof ThreadsError ? error.code : 'ERR_INTERNAL'
      refuse(peer.toString(), code)
      response = { type: 'error', code, message: error instanceof ThreadsError ? error.message : 'the request could not be served' }
    }
    try {
      if (stream.status === 'open') {
        stream.send(frame(response))
        await stream.close({ signal })
      }
    } catch {
      stream.abort(new RequestFailedError('the answer could not be sent'))
    }
  }, { maxInboundStreams: limits.maxStreamsPerPeer })
  return {
    refusals,
    refuse,
    async stop () {
      await node.unhandle(PROTOCOL)
    }
  }
}

/** Sends `request` to `peer` and returns its answer; an `error` answer is thrown as `RequestFailedError`. */
export async function request (node: ThreadsNode, peer: PeerId | Multiaddr, message: Request, limits: RequestLimits = DEFAULT_REQUEST_LIMITS): Promise<Response> {
  const signal = AbortSignal.timeout(limits.timeoutMs)
  // A peer that cannot be reached is the caller's to retry: its reason (a reset mid-handshake, say) comes as a cause.
  const stream = await node.dialProtocol(peer, PROTOCOL, { signal }).catch((cause: unknown) => {
    throw new RequestFailedError(`could not reach ${peer.toString()}`, undefined, { cause })
  })
  try {
    stream.send(frame(message))
    const response = decodeResponse(await readOneFrame(stream, limits, signal))
    if (response.type === 'error') throw new RequestFailedError(`the peer refused: ${response.message}`, response.code)
    return response
  } finally {
    if (stream.status === 'open') await stream.close({ signal }).catch(() => { stream.abort(new RequestFailedError('closing failed')) })
  }
}

import type { Connection, Stream } from '@libp2p/interface'
import { isMultiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { peerIdOf } from '../codecs/address.ts'
import { MessageTooLargeError, ThreadsError } from '../codecs/errors.ts'
import {
  decodeRequest, decodeResponse, frame, readFrame, MAX_FRAME_BYTES, PROTOCOL, type Request, type Response
} from '../codecs/wire.ts'
import type { ThreadsNode } from './node.ts'

/**
 * Requests and responses over `/threads/1.0.0`, one exchange after another on a stream: a client keeps a few streams
 * to each peer open between requests, since opening one costs more than most exchanges on it. Both sides read one
 * frame at a time, refuse a frame over the limit as soon as its length is known, and give up on a stream that
 * stalls. What the server refuses is counted per peer, and the server goes on serving everyone else.
 */

export interface RequestLimits {
  /**
   * Longest wait for a message: for its first byte, then again for the rest of it. A stream idle this long after an
   * answer is reset by the server; a client stops asking on one half of it after its last request.
   */
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

/** Frames read off one stream in turn; bytes past a frame wait for the next read. */
interface FrameReader {
  /**
   * The next whole frame, or undefined when the stream ends before one begins. A frame cut short, or not whole
   * within `timeoutMs` of its first byte, is a `RequestFailedError` (the stream is aborted then); one whose length
   * is malformed or over the limit is refused as soon as that is known.
   */
  next (): Promise<Uint8Array | undefined>
  /** Bytes received past the frames read so far. */
  readonly buffered: number
  /** Set once the peer sent more than a frame ahead of its answer, and the stream was aborted for it. */
  readonly refused: MessageTooLargeError | undefined
}

/** The most a length prefix takes: a uvarint of a frame's length. */
const MAX_PREFIX_BYTES = 5

/**
 * Reads `stream` a frame at a time, taking its bytes as they arrive. A peer asks, or answers, one frame at a time:
 * more than a whole frame waiting to be read is refused at once, and the stream aborted. `whenIdle` says what
 * `timeoutMs` with no byte of the next frame means, once the stream is aborted for it: its end (`end`, for a
 * server whose client kept the stream too long), or a failure.
 */
function frameReader (stream: Stream, limits: RequestLimits, whenIdle: 'end' | 'fail'): FrameReader {
  let buffer = new Uint8Array(0)
  // A stream reset or closed before these listeners were added fires no event they could hear.
  let ended = stream.status !== 'open'
  let refused: MessageTooLargeError | undefined
  let wake: (() => void) | undefined
  const stalled = (): RequestFailedError => new RequestFailedError(`no whole message within ${limits.timeoutMs} ms`)
  stream.addEventListener('message', event => {
    const bytes = event.data instanceof Uint8Array ? event.data : event.data.subarray()
    if (buffer.length + bytes.length > limits.maxFrameBytes + MAX_PREFIX_BYTES) {
      refused = new MessageTooLargeError(`more than a frame of ${limits.maxFrameBytes} bytes sent ahead of its answer`)
      stream.abort(refused)
      return
    }
    const joined = new Uint8Array(buffer.length + bytes.length)
    joined.set(buffer)
    joined.set(bytes, buffer.length)
    buffer = joined
    wake?.()
  })
  const end = (): void => {
    ended = true
    wake?.()
  }
  stream.addEventListener('remoteCloseWrite', end)
  stream.addEventListener('close', end)
  return {
    get buffered () { return buffer.length },
    get refused () { return refused },
    async next () {
      let timedOut = false
      // Aborting a stream already closed fires nothing: the timeout itself ends the wait.
      const expire = (): void => {
        timedOut = true
        stream.abort(stalled())
        end()
      }
      let timer = setTimeout(expire, limits.timeoutMs)
      try {
        for (;;) {
          const read = readFrame(buffer, limits.maxFrameBytes)
          if (read !== undefined) {
            // Not a view of the frame just read: a stream kept between exchanges must not hold on to it.
            buffer = read.used === buffer.length ? new Uint8Array(0) : buffer.slice(read.used)
            return read.bytes
          }
          if (ended) {
            if (refused !== undefined) throw refused
            if (timedOut && (buffer.length > 0 || whenIdle === 'fail')) throw stalled()
            if (buffer.length === 0) return undefined
            throw new RequestFailedError('the stream ended in the middle of a message')
          }
          const before = buffer.length
          await new Promise<void>(resolve => { wake = resolve })
          wake = undefined
          // A frame gets the whole timeout from its first byte, however long the stream sat idle before it.
          if (before === 0 && buffer.length > 0) {
            clearTimeout(timer)
            timer = setTimeout(expire, limits.timeoutMs)
          }
        }
      } finally {
        clearTimeout(timer)
      }
    }
  }
}

export interface RequestServer {
  readonly refusals: RefusalCounts
  /** Counts a refusal made outside a request (a bad gossip message, say) with the others. */
  refuse (peer: string, code: string): void
  stop (): Promise<void>
}

/** Told of every refusal as it is counted (to disconnect peers that misbehave). */
export type OnRefusal = (peer: string, code: string) => void

/** Ends our side of `stream` gracefully once what is queued is sent, or at once when that fails. */
async function closeStream (stream: Stream): Promise<void> {
  if (stream.status !== 'open') return
  await stream.close().catch(() => { stream.abort(new RequestFailedError('closing failed')) })
}

/** The frame of `response`; an answer too large for one frame goes back as an error, which is not the asker's fault. */
function answerFrame (response: Response): Uint8Array {
  try {
    return frame(response)
  } catch (error) {
    if (!(error instanceof MessageTooLargeError)) throw error
    return frame({ type: 'error', code: error.code, message: error.message })
  }
}

export async function serveRequests (node: ThreadsNode, handler: RequestHandler, limits: RequestLimits = DEFAULT_REQUEST_LIMITS, onRefusal?: OnRefusal): Promise<RequestServer> {
  const refusals: RefusalCounts = new Map()
  const refuse = (peer: string, code: string): void => {
    const byCode = refusals.get(peer) ?? new Map<string, number>()
    byCode.set(code, (byCode.get(code) ?? 0) + 1)
    refusals.set(peer, byCode)
    onRefusal?.(peer, code)
  }
  const serving = new Set<Stream>()
  await node.handle(PROTOCOL, async (stream: Stream, connection: Connection) => {
    serving.add(stream)
    try {
      await serve(stream, connection.remotePeer)
    } finally {
      serving.delete(stream)
    }
  }, { maxInboundStreams: limits.maxStreamsPerPeer })

  const serve = async (stream: Stream, peer: PeerId): Promise<void> => {
    const frames = frameReader(stream, limits, 'end')
    for (let exchanges = 0; ; exchanges++) {
      let response: Response
      let unreadable = false
      try {
        const bytes = await frames.next().catch((error: unknown) => {
          unreadable = true
          throw error
        })
        if (bytes === undefined) {
          // Idle after an exchange is a client keeping the stream for later; a stream that never asks is not.
          if (exchanges === 0) refuse(peer.toString(), RequestFailedError.code)
          break
        }
        response = await handler(decodeRequest(bytes), peer)
      } catch (error) {
        const code = error instanceof ThreadsError ? error.code : 'ERR_INTERNAL'
        refuse(peer.toString(), code)
        response = { type: 'error', code, message: error instanceof ThreadsError ? error.message : 'the request could not be served' }
      }
      if (stream.status !== 'open' || stream.writeStatus !== 'writable') {
        // Bytes sent ahead while the request was served aborted the stream: that counts too.
        if (!unreadable && frames.refused !== undefined) refuse(peer.toString(), frames.refused.code)
        return
      }
      stream.send(answerFrame(response))
      // After a frame that could not be read whole, nothing later on the stream can be told apart from it: the
      // answer goes out, and the stream is ended both ways.
      if (unreadable) {
        await stream.close().catch(() => undefined)
        stream.abort(new RequestFailedError('the stream could not be read'))
        return
      }
    }
    await closeStream(stream)
  }

  return {
    refusals,
    refuse,
    async stop () {
      await node.unhandle(PROTOCOL)
      for (const stream of serving) stream.abort(new RequestFailedError('the server stopped'))
    }
  }
}

/** Asks peers over `/threads/1.0.0`, keeping a few streams to each peer open between requests. */
export interface Requester {
  /** The peer that asks: proofs of the service key name it. */
  readonly self: PeerId
  /** Sends `message` to `peer` and returns its answer; an `error` answer is thrown as `RequestFailedError`. */
  request (peer: PeerId | Multiaddr, message: Request): Promise<Response>
  /** Closes the streams kept open. */
  stop (): void
}

export interface RequesterInit {
  node: ThreadsNode
  limits?: RequestLimits
}

/** Streams kept open to one peer between requests; more in flight at once are opened, and closed after use. */
const IDLE_STREAMS_PER_PEER = 4

interface OpenStream {
  readonly stream: Stream
  readonly frames: FrameReader
  /** When its last request was sent: the server cannot have begun to count it idle before then. */
  sent: number
  idle?: NodeJS.Timeout
}

export function createRequester (init: RequesterInit): Requester {
  const { node } = init
  const limits = init.limits ?? DEFAULT_REQUEST_LIMITS
  const idle = new Map<string, OpenStream[]>()

  /** Open both ways at both ends: a peer that closed its side, or reset the stream as idle, is asked on a new one. */
  const usable = ({ stream }: OpenStream): boolean =>
    stream.status === 'open' && stream.writeStatus === 'writable' && stream.remoteReadStatus === 'readable' && stream.remoteWriteStatus === 'writable'

  const retire = (key: string, open: OpenStream): void => {
    const kept = idle.get(key)?.filter(other => other !== open) ?? []
    if (kept.length === 0) idle.delete(key)
    else idle.set(key, kept)
    void closeStream(open.stream)
  }

  /**
   * How long `open` may still be asked on: half the timeout from its last request, well before the server, which
   * counts from its answer to that request, resets it as idle.
   */
  const reusableFor = (open: OpenStream): number => open.sent + limits.timeoutMs / 2 - Date.now()

  const keep = (key: string | undefined, open: OpenStream): void => {
    const kept = key === undefined ? [] : idle.get(key) ?? []
    const left = reusableFor(open)
    // Bytes past the answer are nothing an honest peer sends: they must not pass for the next request's answer.
    if (key === undefined || kept.length >= IDLE_STREAMS_PER_PEER || left <= 0 || open.frames.buffered > 0 || !usable(open)) {
      void closeStream(open.stream)
      return
    }
    open.idle = setTimeout(() => { retire(key, open) }, left)
    open.idle.unref()
    kept.push(open)
    idle.set(key, kept)
  }

  const take = (key: string | undefined): OpenStream | undefined => {
    const kept = key === undefined ? undefined : idle.get(key)
    for (let open = kept?.pop(); open !== undefined; open = kept?.pop()) {
      clearTimeout(open.idle)
      if (usable(open) && reusableFor(open) > 0 && open.frames.buffered === 0) return open
      open.stream.abort(new RequestFailedError('the stream is no longer to be asked on'))
    }
    return undefined
  }

  /** The answer on `open`, or undefined when the stream could not take the request (so nothing was asked). */
  const exchange = async (open: OpenStream, key: string | undefined, bytes: Uint8Array): Promise<Response | undefined> => {
    try {
      open.sent = Date.now()
      open.stream.send(bytes)
    } catch {
      return undefined
    }
    // Once sent, a request may have been served however the stream ends: it is never asked again.
    const answer = await open.frames.next().catch((error: unknown) => {
      open.stream.abort(new RequestFailedError('no answer could be read'))
      throw error
    })
    if (answer === undefined) {
      open.stream.abort(new RequestFailedError('the stream ended before an answer'))
      throw new RequestFailedError('the stream ended before an answer')
    }
    let response: Response
    try {
      response = decodeResponse(answer)
    } catch (error) {
      open.stream.abort(new RequestFailedError('the answer could not be read'))
      throw error
    }
    keep(key, open)
    if (response.type === 'error') throw new RequestFailedError(`the peer refused: ${response.message}`, response.code)
    return response
  }

  return {
    self: node.peerId,

    async request (peer, message) {
      const bytes = frame(message)
      const key = isMultiaddr(peer) ? peerIdOf(peer) : peer.toString()
      const kept = take(key)
      // A kept stream that could not take the request asked nothing of the peer: ask on a new one.
      const answered = kept === undefined ? undefined : await exchange(kept, key, bytes)
      if (answered !== undefined) return answered
      // A peer that cannot be reached is the caller's to retry: its reason (a reset mid-handshake, say) comes as a cause.
      const stream = await node.dialProtocol(peer, PROTOCOL, { signal: AbortSignal.timeout(limits.timeoutMs) }).catch((cause: unknown) => {
        throw new RequestFailedError(`could not reach ${peer.toString()}`, undefined, { cause })
      })
      const response = await exchange({ stream, frames: frameReader(stream, limits, 'fail'), sent: Date.now() }, key, bytes)
      if (response === undefined) throw new RequestFailedError('the stream could not take the request')
      return response
    },

    stop () {
      for (const [key, kept] of [...idle]) for (const open of kept) { clearTimeout(open.idle); retire(key, open) }
    }
  }
}
